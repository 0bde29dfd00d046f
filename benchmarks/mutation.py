"""Mutation testing of the core modules with their fast tests (mutmut): the score per module and every survivor.

A mutant is the module with one small change (an operator, a constant, a condition, a dropped call). A test suite
that lets a mutant pass has a gap, unless the mutant behaves exactly like the original (an equivalent mutant);
those are listed, each with the reason, in ``benchmarks/mutation_equivalents.txt``. The score of a module is
detected / (mutants - listed equivalents), where detected means a test failed, timed out or crashed; the target is
90 % for every core module.

    python benchmarks/mutation.py                                    # every core module, one after the other
    python benchmarks/mutation.py launch/run_dir.py rewards/sfr.py   # some of them
    python benchmarks/mutation.py launch/plan.py --sample 2          # every 2nd mutant of each function
    python benchmarks/mutation.py launch/run_dir.py --rerun-survivors  # after adding tests: last run's survivors

Not part of CI: a full run takes hours on 2 cores. Each module runs in its own scratch folder
``.mutation/<module>/`` (mutmut copies the code into its ``mutants/`` folder; the checkout is never changed). The
universe of tests of a module is ``MODULES[module]`` (fast tests of its package; slow, Ray and GPU tests are
deselected), and each mutant runs only those of them that call the mutated function (mutmut records which test
reaches which function, in the test process: a test that runs the function only in a subprocess must call it
in-process too to count). Mutants run in a PID namespace of their own (``sandbox``). mutmut does not mutate
decorated functions (``@property``, ``@lru_cache``); the report lists them. Exit status 1 when a module is below
the target or a survivor is not explained.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

REPO = Path(__file__).resolve().parents[1]
EQUIVALENTS = REPO / "benchmarks" / "mutation_equivalents.txt"
SCRATCH = REPO / ".mutation"
TARGET = 0.90

# What the mutated code needs next to it: the packages it imports and the files its tests read.
SOURCE_PACKAGES = ("converters", "rewards", "eval", "launch")
TEST_INPUTS = ("data", "recipes")
FAST_ONLY = ("-m", "not slow and not ray and not gpu")
# Tests that run the code in a subprocess outside the project folder, where mutmut's trampolines cannot find their
# settings (they fail under mutmut whatever the mutant).
OUTSIDE = ("tests/rewards/test_adapters.py::test_easyr1_file_loads_by_path_without_the_repo_on_sys_path",)
COLD_CACHES = "mutation_cold_caches"  # a pytest plugin written next to the mutants (see COLD_CACHES_PLUGIN)
PYTEST_ARGS = (*FAST_ONLY, *(f"--deselect={test}" for test in OUTSIDE), "-p", "no:cacheprovider", "-p", COLD_CACHES,
               "--hypothesis-seed=0")
# Each mutant runs in a process forked from one that already ran the tests, so a memoised result computed by the
# original code would hide the mutant (a prompt head cached before the instruction text was mutated). The plugin
# empties every memo of the project before each test: lru_cache'd functions, and these module-level dicts.
DICT_CACHES = {"converters.format.parse": ("_EE_ROLE_FACTS",), "rewards.config": ("_FILES",)}
COLD_CACHES_PLUGIN = f'''"""Written by benchmarks/mutation.py: every test of a mutation run starts with empty memos."""
import sys

PACKAGES = {SOURCE_PACKAGES!r}
DICT_CACHES = {DICT_CACHES!r}


def pytest_runtest_setup(item):
    for name, module in list(sys.modules.items()):
        if name.partition(".")[0] in PACKAGES and module is not None:
            for value in list(vars(module).values()):
                if callable(getattr(value, "cache_clear", None)):
                    value.cache_clear()
            for attr in DICT_CACHES.get(name, ()):
                getattr(module, attr).clear()
'''
# mutmut's statuses of a detected mutant: a test failed, ran out of time, or its process died (SIGSEGV/SIGKILL).
DETECTED = ("killed", "timeout", "segfault")

# module -> its fast tests (files or node ids); each mutant runs the ones among these that reach its function.
MODULES: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("converters/format/profiles.py", "converters/format/render.py", "converters/format/parse.py"),
                    ("tests/converters/test_format.py", "tests/converters/test_format_render.py",
                     "tests/converters/test_model_outputs.py", "tests/converters/test_roundtrip.py")),
    "converters/records.py": ("tests/converters/test_records.py", "tests/converters/test_format.py",
                              "tests/converters/test_format_render.py", "tests/converters/test_roundtrip.py"),
    "rewards/sfr.py": ("tests/rewards",),
    "rewards/sets.py": ("tests/rewards/test_sets.py", "tests/rewards/test_sfr.py"),
    "rewards/matching.py": ("tests/rewards/test_sets.py", "tests/rewards/test_sfr.py"),
    "rewards/config.py": ("tests/rewards/test_config.py", "tests/rewards/test_sfr.py",
                          "tests/rewards/test_adapters.py"),
    "eval/metrics.py": ("tests/eval/test_metrics.py", "tests/eval/test_seqeval.py"),
    "eval/counts.py": ("tests/eval/test_metrics.py", "tests/eval/test_seqeval.py", "tests/eval/test_bootstrap.py"),
    "eval/instructuie.py": ("tests/eval/test_instructuie_differential.py", "tests/eval/test_metrics.py"),
    "launch/run_dir.py": ("tests/launch/test_run_dir.py",),
    "launch/code_stamp.py": ("tests/launch/test_code_stamp.py",
                             "tests/launch/test_plan.py::test_code_closure_follows_imports_including_lazy_and_relative_ones",
                             "tests/launch/test_plan.py::test_the_data_build_closure_of_the_real_code"),
    "launch/plan.py": ("tests/launch/test_plan.py", "tests/launch/test_resume.py"),
}


@dataclass
class Survivor:
    name: str          # mutmut's mutant name, e.g. launch.run_dir.x_files_stamp__mutmut_3
    status: str        # survived, no tests (no fast test reaches the function), suspicious, ...
    function: str      # the mutated function (Class.method for methods)
    original: str      # the changed line(s) as in the module
    mutant: str        # the same line(s) in the mutant
    why: str | None = None  # the reason it is equivalent, when listed


@dataclass
class ModuleResult:
    module: str
    counts: dict[str, int] = field(default_factory=dict)
    survivors: list[Survivor] = field(default_factory=list)
    seconds: float = 0.0
    every: int = 1  # the sample: every n-th mutant of each function

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def killed(self) -> int:
        return sum(self.counts.get(status, 0) for status in DETECTED)

    @property
    def equivalent(self) -> int:
        return sum(s.why is not None for s in self.survivors)

    @property
    def score(self) -> float:
        judged = self.total - self.equivalent
        return self.killed / judged if judged else 1.0


def slug(module: str) -> str:
    return module.removesuffix(".py").replace("/", ".")


def sandbox() -> list[str]:
    """A command prefix that runs the mutants in their own PID namespace (util-linux ``unshare``).

    A mutant of ``launch.run_dir.stop_leftover_processes`` (or of ``names_path``, which it asks) can SIGKILL every
    process group it sees; in the namespace it sees only the tests' own processes. No mutant runs without it.
    """
    prefix = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"]
    if os.geteuid() != 0:
        prefix[1:1] = ["--user", "--map-root-user"]
    try:
        ok = subprocess.run([*prefix, "true"], capture_output=True, check=False).returncode == 0
    except FileNotFoundError:
        ok = False
    if not ok:
        raise SystemExit(f"`{' '.join(prefix)} true` failed: mutation testing runs only in a PID namespace of its "
                         "own (a mutant of the run folder's process clean-up would signal every process it sees)")
    return prefix


def mutmut(args: list[str], cwd: Path, log=None, prefix: Sequence[str] = ()) -> subprocess.CompletedProcess:
    """Run mutmut's command line in ``cwd`` (its console script, with this interpreter)."""
    code = "import sys; from mutmut.__main__ import cli; sys.exit(cli())"
    return subprocess.run([*prefix, sys.executable, "-c", code, *args], cwd=cwd, text=True, check=False,
                          stdout=log or subprocess.PIPE, stderr=subprocess.STDOUT if log else subprocess.PIPE)


def prepare(module: str, work: Path, fresh: bool) -> None:
    """The scratch folder: links to the code and test inputs, and mutmut's settings for this one module."""
    if fresh and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    for name in (*SOURCE_PACKAGES, *TEST_INPUTS, "tests", "pyproject.toml"):  # links: the checkout's own files
        link = work / name
        if not link.is_symlink():
            link.symlink_to(REPO / name)
    shared = REPO.parent / "shared"  # tests reach shared/ as REPO.parent / "shared"; here REPO is mutants/
    if shared.is_dir() and not (work / "shared").is_symlink():
        (work / "shared").symlink_to(shared)

    def lines(values) -> str:
        return "".join(f"\n    {v}" for v in values)

    # pyproject.toml has no [tool.mutmut] table, so mutmut reads setup.cfg (pytest keeps reading pyproject.toml).
    (work / f"{COLD_CACHES}.py").write_text(COLD_CACHES_PLUGIN, encoding="utf-8")
    (work / "setup.cfg").write_text(
        "[mutmut]\n"
        f"source_paths ={lines(SOURCE_PACKAGES)}\n"
        f"only_mutate = {module}\n"
        f"also_copy ={lines([*TEST_INPUTS, f'{COLD_CACHES}.py'])}\n"
        f"pytest_add_cli_args_test_selection ={lines(MODULES[module])}\n"
        f"pytest_add_cli_args ={lines(PYTEST_ARGS)}\n"
        "use_git_change_detection = false\n",
        encoding="utf-8")


def statuses(work: Path, module: str) -> dict[str, str]:
    """mutant name -> mutmut's status (killed, survived, no tests, timeout, ...) of the module's mutants."""
    result = mutmut(["results", "--all", "true"], work)
    prefix = slug(module) + "."
    found = {}
    for line in result.stdout.splitlines():
        name, sep, status = line.strip().partition(": ")
        if sep and name.startswith(prefix):
            found[name] = status
    return found


_HUNK_LINE = re.compile(r"^([-+])(?![-+]{2} )(.*)$")


def describe(work: Path, name: str, status: str) -> Survivor:
    """A survivor's function and the line(s) the mutation changed, from ``mutmut show``."""
    diff = mutmut(["show", name], work).stdout
    removed = [m.group(2).strip() for line in diff.splitlines() if (m := _HUNK_LINE.match(line)) and m.group(1) == "-"]
    added = [m.group(2).strip() for line in diff.splitlines() if (m := _HUNK_LINE.match(line)) and m.group(1) == "+"]
    mangled = name.rpartition(".")[2].rsplit("__mutmut_", 1)[0]  # x_function, or xǁClassǁmethod
    function = mangled.removeprefix("xǁ").replace("ǁ", ".") if mangled.startswith("xǁ") else mangled[2:]
    return Survivor(name, status, function, "\n".join(removed), "\n".join(added))


@dataclass
class Equivalent:
    module: str
    function: str
    original: str
    mutant: str
    why: str
    where: str  # file:line of the block, for messages


def block(module: str, s: Survivor) -> str:
    """A survivor in the shape of the equivalents list (a listed one adds ``why: ...``)."""
    lines = [f"== {module} :: {s.function}", *(f"- {x}" for x in s.original.split("\n") if s.original),
             *(f"+ {x}" for x in s.mutant.split("\n") if s.mutant)]
    return "\n".join(lines)


def load_equivalents(path: Path = EQUIVALENTS) -> list[Equivalent]:
    """The listed equivalent mutants (see the header of the list for its shape)."""
    entries: list[Equivalent] = []
    current: dict[str, list[str]] | None = None
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("== "):
            module, sep, function = line[3:].partition(" :: ")
            if not sep:
                raise ValueError(f"{path}:{lineno}: expected '== <module> :: <function>'")
            current = {"head": [module.strip(), function.strip(), f"{path.name}:{lineno}"], "-": [], "+": []}
        elif current is None:
            raise ValueError(f"{path}:{lineno}: a block starts with '== <module> :: <function>'")
        elif line[:2] in ("- ", "+ ") or line in ("-", "+"):
            current[line[0]].append(line[2:].strip())
        elif line.startswith("why:") and line[4:].strip():
            module, function, where = current["head"]
            entries.append(Equivalent(module, function, "\n".join(current["-"]), "\n".join(current["+"]),
                                      line[4:].strip(), where))
            current = None
        else:
            raise ValueError(f"{path}:{lineno}: expected '- <original>', '+ <mutant>' or 'why: <reason>'")
    if current is not None:
        raise ValueError(f"{path}: the block at {current['head'][2]} has no 'why: <reason>'")
    return entries


def explain(survivors: list[Survivor], module: str, entries: list[Equivalent]) -> list[Equivalent]:
    """Attach each listed reason to its survivor; return the module's entries that matched no survivor (stale)."""
    used = set()
    for s in survivors:
        for i, e in enumerate(entries):
            if (e.module, e.function, e.original, e.mutant) == (module, s.function, s.original, s.mutant):
                s.why = e.why
                used.add(i)
                break
    return [e for i, e in enumerate(entries) if e.module == module and i not in used]


def in_sample(name: str, every: int) -> bool:
    """Whether a mutant is in the sample that tests every ``every``-th mutant of each function (1, 1 + every, ...)."""
    return (int(name.rsplit("__mutmut_", 1)[1]) - 1) % every == 0


def run_module(module: str, jobs: int, rerun_survivors: bool, every: int, entries: list[Equivalent]) -> ModuleResult:
    work = SCRATCH / slug(module)
    resume = rerun_survivors and (work / "mutants").is_dir()
    before = statuses(work, module) if resume else {}
    prepare(module, work, fresh=not resume)
    if resume:  # the tests changed since: record again which test reaches which function
        (work / "mutants" / "mutmut-stats.json").unlink(missing_ok=True)
    log_path = work / "mutmut.log"
    print(f"== {module}: mutmut on {' '.join(MODULES[module])}{f', every {every}th mutant' if every > 1 else ''} "
          f"(progress: {log_path})", flush=True)
    start = time.monotonic()
    prefix = sandbox()
    run = ["run", "--max-children", str(jobs)]
    with log_path.open("w") as log:
        if resume:  # mutmut keeps its verdicts: ask again for the survivors (the tests changed since)
            names = [n for n, st in before.items() if st not in (*DETECTED, "not checked") and in_sample(n, every)]
            first = names or list(before)[:1]  # a run regenerates the mutants of edited functions in any case
        else:
            first = [f"{slug(module)}.*__mutmut_{n}" for n in range(1, 5000, every)] if every > 1 else []
        done = mutmut([*run, *first], work, log, prefix)
        pending = [n for n, st in statuses(work, module).items() if st == "not checked" and in_sample(n, every)]
        if done.returncode == 0 and pending:  # mutants of functions edited since the last run
            done = mutmut([*run, *pending], work, log, prefix)
    result = ModuleResult(module, seconds=time.monotonic() - start, every=every)
    if done.returncode != 0:
        print(log_path.read_text()[-3000:])
        raise SystemExit(f"{module}: mutmut failed with exit status {done.returncode} (log: {log_path})")
    for name, status in statuses(work, module).items():
        if not in_sample(name, every):
            continue
        result.counts[status] = result.counts.get(status, 0) + 1
        if status not in DETECTED:
            result.survivors.append(describe(work, name, status))
    for stale in explain(result.survivors, module, entries):
        print(f"   stale: {stale.where} ({stale.function}) matches no survivor now")
    return result


def unmutated(module: str) -> list[str]:
    """Functions mutmut 3 leaves alone: decorated ones (``@property``, ``@lru_cache``, ...), except a lone
    ``@staticmethod`` or ``@classmethod``. Their code is tested, but not measured here."""
    names = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lone = [d.id for d in child.decorator_list if isinstance(d, ast.Name)]
                if child.decorator_list and not (len(child.decorator_list) == 1 and lone in (["staticmethod"],
                                                                                          ["classmethod"])):
                    names.append(prefix + child.name)

    visit(ast.parse((REPO / module).read_text(encoding="utf-8")), "")
    return names


def report(results: list[ModuleResult]) -> bool:
    """Print the survivors and the score table; whether every module met the target with every survivor explained."""
    ok = True
    for r in results:
        unexplained = [s for s in r.survivors if s.why is None]
        for s in unexplained:
            print(f"\n# {s.name}: {s.status}\n{block(r.module, s)}")
        ok &= r.score >= TARGET and not unexplained
    print(f"\n{'module':<24} {'mutants':>7} {'killed':>6} {'equiv':>5} {'left':>4} {'score':>6}  time")
    for r in results:
        left = len(r.survivors) - r.equivalent
        print(f"{r.module:<24} {r.total:>7} {r.killed:>6} {r.equivalent:>5} {left:>4} {r.score:>6.1%}"
              f"  {r.seconds / 60:.0f} min{f' (sample: every {r.every}th mutant)' if r.every > 1 else ''}")
    print(f"\ntarget: {TARGET:.0%} per module; 'left' = survivors (or untested mutants) not listed in "
          f"{EQUIVALENTS.relative_to(REPO)}")
    for r in results:
        skipped = unmutated(r.module)
        if skipped:
            print(f"not mutated in {r.module} (decorated; mutmut skips them): {', '.join(skipped)}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", metavar="MODULE",
                        help=f"core modules to mutate (default: all): {', '.join(MODULES)}")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="mutants tested in parallel")
    parser.add_argument("--sample", type=int, default=1, metavar="K",
                        help="test every K-th mutant of each function only (1 = all; for modules whose full run "
                             "takes hours); the score is the sample's")
    parser.add_argument("--rerun-survivors", action="store_true",
                        help="keep the last run of each module and retest only its survivors")
    args = parser.parse_args(argv)
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        parser.error(f"not a core module: {', '.join(unknown)}; choose from {', '.join(MODULES)}")
    entries = load_equivalents()
    results = [run_module(m, args.jobs, args.rerun_survivors, args.sample, entries)
               for m in (args.modules or list(MODULES))]
    return 0 if report(results) else 1


if __name__ == "__main__":
    sys.exit(main())
