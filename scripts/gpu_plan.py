"""What the GPU check carries to the GPU machine, and the proof here, on the CPU machine, that it is enough.

The GPU machine has no network: its Python has a fixed set of packages (``gpu_packages.txt``) and whatever else the
check needs travels as wheels inside the working tree (``gpu_wheels.txt``, downloaded into ``.gpu-wheels/``), which
may hold 64 MiB in all. ``plan()`` checks, before any device time is spent:

- the wheels: every listed one is in the folder and nothing else (two versions of one package stop pip there),
  their total and the working tree's stay under the limit;
- the versions: each carried version is the one this project runs with here; each requirement of a carried wheel
  is met by another carried wheel or by a known version on the machine, or is a written waiver (``WAIVERS``);
  versions the machine's list does not give, and requirements nobody provides, are listed;
- the imports: each process of the check (``ROLES``) imports its modules with only the machine's packages and the
  carried wheels visible (``gpu_probe.py``), so a missing package fails here and not there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from email.parser import Parser
from importlib import metadata
from pathlib import Path

from gpu_probe import normalize
from packaging.markers import default_environment
from packaging.requirements import Requirement

SCRIPTS = Path(__file__).resolve().parent
REPO_ROOT = SCRIPTS.parent
PACKAGES_FILE = SCRIPTS / "gpu_packages.txt"
WHEELS_FILE = SCRIPTS / "gpu_wheels.txt"
WHEEL_DIR = REPO_ROOT / ".gpu-wheels"
TREE_LIMIT_BYTES = 64 * 2**20  # what travels to the machine: the working tree and the carried folders together
MACHINE_PYTHON = "3.12"
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
FLAGS = frozenset({"build", "replaces"})

# What each process of the check imports (gpu_probe.py targets), from the code it runs: module-level imports and
# the imports its functions make on the way (a backend's runner, the driver's validation and data build).
ROLES: dict[str, tuple[str, ...]] = {
    "check": ("gpu_run", "gpu_decode", "yaml"),
    "driver": ("launch.run_pipeline", "hydra.core.hydra_config:HydraConfig", "launch.driver", "launch.plan",
               "launch.models.tiny:ensure_tiny_model", "tokenizers.trainers", "transformers:Qwen3ForCausalLM",
               "transformers:PreTrainedTokenizerFast", "launch.engines.llamafactory",
               "llamafactory.hparams:get_train_args", "llamafactory.data.parser:get_dataset_list",
               "llamafactory.data.template:TEMPLATES", "converters.stages", "pyarrow.json", "pyarrow.parquet",
               "launch.engines.trl", "launch.engines.evaluation", "eval.progression"),
    "sft": ("llamafactory.cli:main", "llamafactory.launcher:launch", "llamafactory.train.tuner:run_exp"),
    "grpo": ("launch.engines.trl:fix_trl_optional_flags()", "trl:GRPOConfig", "trl:GRPOTrainer",
             "datasets:load_dataset", "transformers:AutoModelForCausalLM", "rewards.trl:sfr_reward_funcs"),
    "eval": ("launch.engines.evaluation", "eval.run_benchmark:run_benchmark", "eval.predict:make_generator",
             "transformers:AutoModelForCausalLM", "transformers:DynamicCache"),
}

# Requirements of carried wheels that the machine does not meet, each with why the check runs anyway.
WAIVERS: dict[tuple[str, str], str] = {
    ("llamafactory", "transformers"):
        "LLaMA-Factory 0.9.5 caps transformers at 5.6.0; the machine has 5.17.0. Its import-time version check is "
        "off for the check's run only (DISABLE_VERSION_CHECK=1, LLaMA-Factory's own switch); SFT, GRPO and eval ran "
        "on CPU here with transformers 5.17.0 (README, 'On a GPU')",
    ("llamafactory", "accelerate"):
        "LLaMA-Factory 0.9.5's metadata caps accelerate at 1.11.0, its own runtime check at 1.15.0, the "
        "machine's version; run here with 1.15.0 too",
}


@dataclass(frozen=True)
class Pin:
    """One package of a list: its name as written, its version (None: not known) and flags (``gpu_wheels.txt``)."""

    name: str
    version: str | None
    flags: frozenset[str] = frozenset()

    @property
    def spec(self) -> str:
        return f"{self.name}=={self.version}" if self.version else self.name


@dataclass(frozen=True)
class Finding:
    """One requirement of a carried wheel: ``ok``, ``waived``, ``conflict``, ``unknown`` (the machine's version is
    not known) or ``absent`` (neither carried nor on the machine)."""

    package: str
    requirement: str
    status: str
    detail: str = ""


@dataclass
class Inventory:
    """The wheel folder against the list: sizes of the listed wheels found, listed ones missing, files not listed."""

    sizes: dict[str, int] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.sizes.values())


def parse_pins(lines: Iterable[str]) -> dict[str, Pin]:
    """``name[==version] [flag ...]`` lines (``#`` comments) by normalised name; a repeated name or unknown flag is
    an error."""
    pins: dict[str, Pin] = {}
    for number, raw in enumerate(lines, 1):
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        name, _, version = words[0].partition("==")
        flags = frozenset(words[1:])
        if flags - FLAGS:
            raise ValueError(f"line {number}: unknown flag(s) {sorted(flags - FLAGS)}; known: {sorted(FLAGS)}")
        key = normalize(name)
        if key in pins:
            raise ValueError(f"line {number}: {name} is listed twice")
        pins[key] = Pin(name, version or None, flags)
    return pins


def read_pins(path: Path) -> dict[str, Pin]:
    return parse_pins(path.read_text(encoding="utf-8").splitlines())


def marker_environment() -> dict[str, str]:
    """PEP 508 marker values of the machine's Python (3.12 on x86-64 Linux)."""
    env = default_environment()
    env.update(python_version=MACHINE_PYTHON, python_full_version=f"{MACHINE_PYTHON}.3", sys_platform="linux",
               platform_system="Linux", platform_machine="x86_64", implementation_name="cpython", extra="")
    return env


def applies(requirement: Requirement) -> bool:
    """Whether a requirement holds on the machine without extras."""
    return requirement.marker is None or requirement.marker.evaluate(marker_environment())


def requirement_findings(package: str, requires: Iterable[str], carried: Mapping[str, Pin],
                         machine: Mapping[str, Pin],
                         waivers: Mapping[tuple[str, str], str] = WAIVERS) -> list[Finding]:
    """Each requirement of the carried ``package`` against the carried wheels first, then the machine's list."""
    findings = []
    for text in requires:
        requirement = Requirement(text)
        if not applies(requirement):
            continue
        name = normalize(requirement.name)
        pin, where = (carried[name], "carried") if name in carried else (machine.get(name), "on the machine")
        if pin is None:
            findings.append(Finding(package, text, "absent", "neither carried nor on the machine"))
        elif pin.version is None:
            status = "unknown" if requirement.specifier else "ok"  # any version meets a bare name
            findings.append(Finding(package, text, status, f"{where}, version not known"))
        elif requirement.specifier.contains(pin.version, prereleases=True):
            findings.append(Finding(package, text, "ok", f"{pin.version} {where}"))
        elif (normalize(package), name) in waivers:
            findings.append(Finding(package, text, "waived",
                                    f"{pin.version} {where}: {waivers[(normalize(package), name)]}"))
        else:
            findings.append(Finding(package, text, "conflict", f"{pin.version} {where}"))
    return findings


def list_errors(carried: Mapping[str, Pin], machine: Mapping[str, Pin],
                installed: Mapping[str, str | None]) -> list[str]:
    """What is wrong with the wheel list itself: no version, a version other than this project's (``installed``:
    the version here, None if absent), or a package of the machine carried without ``replaces`` (or the flag on a
    package the machine does not have)."""
    errors = []
    for key, pin in carried.items():
        if pin.version is None:
            errors.append(f"{pin.name}: no version (write name==version)")
        elif installed.get(key) != pin.version:
            errors.append(f"{pin.name}=={pin.version}: this project runs {installed.get(key) or 'no such package'} "
                          f"here; carry the version the tests here use")
        if key in machine and "replaces" not in pin.flags:
            errors.append(f"{pin.name}: the machine has it ({machine[key].spec}); mark the line `replaces` or drop it")
        if key not in machine and "replaces" in pin.flags:
            errors.append(f"{pin.name}: marked `replaces` but the machine's list does not have it")
    return errors


def parse_wheel_name(filename: str) -> tuple[str, str]:
    """(normalised name, version) of a wheel file name (``name-version[-build]-py-abi-platform.whl``)."""
    parts = filename[: -len(".whl")].split("-")
    if not filename.endswith(".whl") or len(parts) not in (5, 6):
        raise ValueError(f"{filename}: not a wheel file name")
    return normalize(parts[0]), parts[1]


def inventory(folder: Path, carried: Mapping[str, Pin]) -> Inventory:
    """Match the folder's files with the list (by name and version)."""
    found = Inventory()
    present: dict[tuple[str, str], Path] = {}
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        try:
            present[parse_wheel_name(path.name)] = path
        except ValueError:
            found.unexpected.append(path.name)
    for key, pin in carried.items():
        path = present.pop((key, pin.version or ""), None)
        if path is None:
            found.missing.append(pin.spec)
        else:
            found.sizes[key], found.files[key] = path.stat().st_size, path.name
    found.unexpected += sorted(p.name for p in present.values())
    return found


def tree_bytes(repo: Path = REPO_ROOT) -> int | None:
    """Bytes of the working tree that travels to the machine (tracked and untracked-not-ignored files); None
    without git."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=repo,
                             capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    paths = {repo / p for p in out.decode().split("\0") if p}
    return sum(p.stat().st_size for p in paths if p.is_file() and not p.is_symlink())


def budget_errors(wheel_total: int, tree: int | None, limit: int = TREE_LIMIT_BYTES) -> list[str]:
    """The wheels plus the working tree must fit what one call carries."""
    together = wheel_total + (tree or 0)
    if together > limit:
        return [f"wheels {mib(wheel_total)} + working tree {mib(tree or 0)} = {mib(together)}: over the "
                f"{mib(limit)} that travel to the machine"]
    return []


def mib(n: int) -> str:
    return f"{n / 2**20:.2f} MiB"


def wheel_requires(pin: Pin, folder: Path, files: Mapping[str, str]) -> list[str] | None:
    """Requires-Dist of a carried wheel: from the wheel file when downloaded, else from the same version
    installed here; None when neither is there."""
    key = normalize(pin.name)
    if key in files:
        with zipfile.ZipFile(folder / files[key]) as wheel:
            name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
            message = Parser().parsestr(wheel.read(name).decode("utf-8"))
        return list(message.get_all("Requires-Dist") or [])
    try:
        dist = metadata.distribution(pin.name)
    except metadata.PackageNotFoundError:
        return None
    return list(dist.requires or []) if dist.version == pin.version else None


def implied_packages(machine: Iterable[str]) -> set[str]:
    """The dependencies of the machine's packages, as installed here (recursively): the machine has them too, in
    the versions its own packages need (pandas brings pytz, ...)."""
    todo, seen = [normalize(n) for n in machine], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.distribution(name).requires or []
        except metadata.PackageNotFoundError:
            continue
        todo += [normalize(r.name) for r in map(Requirement, requires) if applies(r)]
    return seen - {normalize(n) for n in machine}


def installed_versions(names: Iterable[str]) -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[normalize(name)] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[normalize(name)] = None
    return versions


def probe_role(targets: Iterable[str], allowed: Iterable[str], python: str = sys.executable) -> dict:
    """Run gpu_probe.py on one role's targets; its JSON result (``ok``, ``error``, ``imported``, ``refused``)."""
    request = json.dumps({"allowed": sorted(allowed), "targets": list(targets)})
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "DISABLE_VERSION_CHECK": "1"}  # as in the check's run
    proc = subprocess.run([python, str(SCRIPTS / "gpu_probe.py")], input=request, capture_output=True, text=True,
                          cwd=REPO_ROOT, env=env)
    lines = proc.stdout.strip().splitlines()
    try:
        return json.loads(lines[-1])
    except (IndexError, ValueError):
        return {"ok": False, "error": f"the probe exited {proc.returncode}: {proc.stderr[-2000:]}", "imported": [],
                "refused": []}


def dry_run(python: str = sys.executable) -> tuple[int, str]:
    """The check's pipeline command as a dry run here: the overrides compose and every stage validates (LLaMA-Factory's
    get_train_args, TRL's batch rules); returns the exit code and what validation could not check."""
    from gpu_run import overrides

    with tempfile.TemporaryDirectory(prefix="prouie-gpu-plan-") as tmp:
        argv = [python, "launch/run_pipeline.py", *overrides("cuda", Path(tmp) / "run"), "pipeline.dry_run=true"]
        proc = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True,
                              env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"})
    output = proc.stdout + proc.stderr  # the dry run prints on stderr
    notes = sorted({line.split("note: ", 1)[1] for line in output.splitlines() if "# validated; note: " in line})
    tail = "" if proc.returncode == 0 else output[-1500:]
    return proc.returncode, "; ".join(notes) + tail or "every stage validated"


def download_commands(carried: Mapping[str, Pin], folder: Path, pip: Iterable[str]) -> list[list[str]]:
    """The pip commands that fill ``folder``: one download of every wheel for the machine's Python and platform,
    no dependencies, wheels only; one build per ``build`` package (pure Python, from its sdist)."""
    pip = list(pip)
    wheels = [p.spec for p in carried.values() if "build" not in p.flags]
    platform = [arg for tag in PLATFORMS for arg in ("--platform", tag)]
    commands = [[*pip, "download", "--no-deps", "--only-binary=:all:", "--python-version", MACHINE_PYTHON,
                 "--implementation", "cp", *platform, "-d", str(folder), *wheels]] if wheels else []
    commands += [[*pip, "wheel", "--no-deps", f"--no-binary={p.name}", "-w", str(folder), p.spec]
                 for p in carried.values() if "build" in p.flags]
    return commands


def download(folder: Path = WHEEL_DIR) -> int:
    """Fill the wheel folder (emptied first: two versions of a package must never travel together)."""
    carried = read_pins(WHEELS_FILE)
    folder.mkdir(exist_ok=True)
    for old in folder.glob("*.whl"):
        old.unlink()
    for command in download_commands(carried, folder, [sys.executable, "-m", "pip"]):
        print("$", " ".join(command), flush=True)
        if subprocess.run(command).returncode:
            return 1
    return 0


def plan(folder: Path = WHEEL_DIR, out=sys.stdout) -> int:
    """Check everything above and print it; 0 when the check can go to the machine."""
    carried, machine = read_pins(WHEELS_FILE), read_pins(PACKAGES_FILE)
    errors = list_errors(carried, machine, installed_versions(carried))
    say = lambda text="": print(text, file=out)  # noqa: E731
    say(f"GPU check plan: Python {MACHINE_PYTHON} on the GPU machine, its packages {PACKAGES_FILE.name} "
        f"({len(machine)}), carried {WHEELS_FILE.name} ({len(carried)}) from {folder.name}/")
    found = inventory(folder, carried)
    say("\nwheels:")
    for key, pin in carried.items():
        size = f"{found.sizes[key] / 1024:9.1f} KiB  {found.files[key]}" if key in found.sizes else "  (missing)"
        say(f"  {pin.spec:<34}{size}")
    tree = tree_bytes()
    say(f"  total {mib(found.total)}; working tree {mib(tree) if tree is not None else '(no git: not counted)'}; "
        f"together {mib(found.total + (tree or 0))} of {mib(TREE_LIMIT_BYTES)}")
    if found.missing:
        errors.append(f"not in {folder}: {', '.join(found.missing)} (make gpu-wheels)")
    if found.unexpected:
        errors.append(f"in {folder} but not listed: {', '.join(found.unexpected)} (make gpu-wheels empties it first)")
    errors += budget_errors(found.total, tree)

    say("\nversions (requirements of the carried wheels on the machine):")
    implied = implied_packages(machine)
    there = {**{key: Pin(key, None) for key in implied}, **machine}  # its packages' dependencies are there too
    findings = []
    for pin in carried.values():
        requires = wheel_requires(pin, folder, found.files)
        if requires is None:
            errors.append(f"{pin.spec}: no metadata (neither downloaded nor installed here)")
            continue
        findings += requirement_findings(pin.name, requires, carried, there)
    for f in (f for f in findings if f.status in ("conflict", "waived")):
        say(f"  {f.status:<8} {f.package}: {f.requirement}  ({f.detail})")
    for status, title in (("unknown", "version not known there, not checked"),
                          ("absent", "neither there nor carried (the run does not import them: see imports)")):
        listed = [f"{f.requirement} ({f.package})" for f in findings if f.status == status]
        if listed:
            say(f"  {title}: {', '.join(listed)}")
    say(f"  met: {sum(f.status == 'ok' for f in findings)} of {len(findings)}")
    errors += [f"{f.package} requires {f.requirement}; {f.detail}" for f in findings if f.status == "conflict"]

    allowed = set(carried) | set(there)
    say(f"\nimports (each process, with only the machine's {len(machine)} packages, what they depend on "
        f"({', '.join(sorted(implied))}) and the carried wheels visible):")
    for role, targets in ROLES.items():
        result = probe_role(targets, allowed)
        carried_used = sorted(set(result["imported"]) & set(carried))
        say(f"  {role:<7} {'ok' if result['ok'] else 'FAILED'}: {len(result['imported'])} distributions, carried: "
            f"{', '.join(carried_used) or '-'}; absent there, skipped as optional: "
            f"{', '.join(result['refused']) or '-'}")
        if not result["ok"]:
            errors.append(f"{role}: {result['error']}")
    code, notes = dry_run()
    say(f"\nthe run's recipe (pipeline.dry_run=true with the run's overrides, this virtualenv): "
        f"{'ok' if code == 0 else f'exit {code}'}; {notes}")
    if code:
        errors.append(f"the dry run of the check's recipe exited {code}")
    say()
    for error in errors:
        say(f"ERROR: {error}")
    say("plan: ok" if not errors else f"plan: {len(errors)} error(s)")
    return 1 if errors else 0
