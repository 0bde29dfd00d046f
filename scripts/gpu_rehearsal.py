"""The GPU check's run rehearsed here, on the CPU, as close to the GPU machine as this machine allows.

Why: the machine is lent for minutes and its versions are not ours (transformers 5.17.0 where LLaMA-Factory pins
5.6.0, ...). The rehearsal puts the machine's versions of the packages whose versions are known there and differ
from this virtualenv's first on ``sys.path`` (``overlay_pins``; not the torch family: CUDA builds of gigabytes,
so torch stays this virtualenv's CPU build), hides every package the machine lacks and nobody carries (the
``gpu_probe.py`` finder, installed in every process by a ``sitecustomize``), and runs ``gpu_run.py`` on the CPU
with small stages (``QUICK``: one epoch per SFT stage, two eval records per dataset). It shows that the versions
and the packages work together and that the run writes its report; its timings are a CPU's.

    .venv/bin/python scripts/gpu_check.py --rehearse          # writes into runs/gpu_rehearsal/
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from gpu_plan import (
    PACKAGES_FILE,
    REPO_ROOT,
    SCRIPTS,
    WHEELS_FILE,
    Pin,
    implied_packages,
    installed_versions,
    read_pins,
)

WORK = REPO_ROOT / "runs" / "gpu_rehearsal"
CUDA_BUILDS = frozenset({"torch", "torchaudio", "torchvision", "triton"})
QUICK = ("stages.cm_ner.epochs=1", "stages.cm_ner_re.epochs=1", "stages.cm_all.epochs=1", "stages.sa.epochs=1",
         "pipeline.eval.limit=2")
SITECUSTOMIZE = '''"""GPU check rehearsal: only the GPU machine's packages and the carried wheels are visible."""
import json, os, sys
sys.path.insert(0, {scripts!r})
import gpu_probe
sys.path.remove({scripts!r})
gpu_probe.install_finder(json.load(open({allowed!r}, encoding="utf-8")))
'''


def overlay_pins(machine: Mapping[str, Pin], installed: Mapping[str, str | None]) -> list[Pin]:
    """The machine's packages with a known version that this virtualenv has in another version (CUDA builds
    excepted)."""
    return [pin for key, pin in machine.items()
            if pin.version and key not in CUDA_BUILDS and installed.get(key) not in (None, pin.version)]


def prepare(work: Path = WORK) -> dict[str, str]:
    """Download and install the overlay, write the hiding sitecustomize; the environment that uses both."""
    machine, carried = read_pins(PACKAGES_FILE), read_pins(WHEELS_FILE)
    pins = overlay_pins(machine, installed_versions(machine))
    wheels, site, sim = work / "wheels", work / "site", work / "sim"
    for folder in (wheels, site):
        shutil.rmtree(folder, ignore_errors=True)
    pip = [sys.executable, "-m", "pip", "-q"]
    download = [*pip, "download", "--no-deps", "--only-binary=:all:", "-d", str(wheels)]
    # one download each: a version with no wheel for this Python stays this virtualenv's
    kept = [p.spec for p in pins if subprocess.run([*download, p.spec], stderr=subprocess.DEVNULL).returncode]
    print(f"the machine's versions over this virtualenv's: {', '.join(p.spec for p in pins if p.spec not in kept)}; "
          f"no wheel for this Python, this virtualenv's kept: {', '.join(kept) or '-'}", flush=True)
    if any(wheels.glob("*.whl")):
        subprocess.run([*pip, "install", "--no-deps", "--no-index", "--no-compile", "--target", str(site),
                        *map(str, sorted(wheels.glob("*.whl")))], check=True)
    sim.mkdir(parents=True, exist_ok=True)
    allowed = sorted(set(machine) | set(carried) | implied_packages(machine))
    (sim / "allowed.json").write_text(json.dumps(allowed), encoding="utf-8")
    (sim / "sitecustomize.py").write_text(SITECUSTOMIZE.format(scripts=str(SCRIPTS), allowed=str(sim / "allowed.json")),
                                          encoding="utf-8")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(sim), str(site)])}


def rehearse(work: Path = WORK) -> int:
    """Prepare, then run the check on the CPU with this virtualenv and the QUICK stage sizes."""
    env = prepare(work)
    command = [sys.executable, str(SCRIPTS / "gpu_check.py"), "--device", "cpu", "--no-install", "--out",
               str(work / "out"), "--limit-s", "1200", "--", *QUICK]
    return subprocess.run(command, env=env, cwd=REPO_ROOT).returncode
