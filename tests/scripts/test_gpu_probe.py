"""The probe hides, in a real interpreter, every package the GPU machine lacks, as an absent package looks."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata

from gpu_plan import SCRIPTS
from gpu_probe import hidden_modules

ALL_HERE = sorted({d for dists in metadata.packages_distributions().values() for d in dists})
WITHOUT_PYYAML = [d for d in ALL_HERE if d.lower() != "pyyaml"]
LOOKS_ABSENT = f"""
import importlib.util, json, sys
from importlib import metadata
sys.path.insert(0, {str(SCRIPTS)!r})
import gpu_probe
gpu_probe.install_finder(json.loads(sys.argv[1]))
try:
    metadata.version("PyYAML")
    version = "found"
except metadata.PackageNotFoundError:
    version = "absent"
print(json.dumps([importlib.util.find_spec("yaml") is None, version, importlib.util.find_spec("json") is None]))
"""


def probe(allowed: list[str], targets: list[str]) -> dict:
    proc = subprocess.run([sys.executable, str(SCRIPTS / "gpu_probe.py")], capture_output=True, text=True,
                          input=json.dumps({"allowed": allowed, "targets": targets}), timeout=120)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_hidden_modules_are_those_with_no_allowed_distribution_and_never_our_own():
    module_dists = {"yaml": ["PyYAML"], "_yaml": ["PyYAML"], "google": ["protobuf", "googleapis-common-protos"],
                    "ray": ["ray"], "launch": ["prouie"]}
    assert hidden_modules(module_dists, ["pyyaml", "Protobuf"]) == {"ray"}
    assert hidden_modules(module_dists, []) == {"yaml", "_yaml", "google", "ray"}


def test_a_hidden_package_looks_absent_to_find_spec_and_to_its_metadata():
    out = subprocess.run([sys.executable, "-c", LOOKS_ABSENT, json.dumps(WITHOUT_PYYAML)], capture_output=True,
                         text=True, timeout=120, check=True).stdout
    assert json.loads(out) == [True, "absent", False]


def test_the_probe_reports_the_first_failing_target_and_what_was_refused():
    hidden = probe(WITHOUT_PYYAML, ["json", "yaml", "email"])
    assert not hidden["ok"] and hidden["refused"] == ["yaml"]
    assert hidden["error"].startswith("yaml: ModuleNotFoundError")
    shown = probe(ALL_HERE, ["yaml:safe_load", "json:dumps"])
    assert shown["ok"] and "pyyaml" in shown["imported"] and shown["refused"] == []
    called = probe(ALL_HERE, ["json:dumps()"])  # a call: json.dumps() without its argument raises
    assert not called["ok"] and "TypeError" in called["error"]
