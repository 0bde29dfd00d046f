"""The GPU check's plan: the wheel list, the versions against the GPU machine's list, the size budget, the imports."""

from __future__ import annotations

from pathlib import Path

import gpu_plan
import pytest
from gpu_plan import Pin, budget_errors, inventory, list_errors, parse_pins, requirement_findings
from packaging.requirements import Requirement


def pins(*lines: str) -> dict[str, Pin]:
    return parse_pins(lines)


def test_parse_pins_reads_names_versions_flags_and_comments():
    parsed = pins("# a comment", "", "Hydra_Core==1.3.2  # why", "fsspec==2025.3.0 replaces", "torch",
                  "antlr4-python3-runtime==4.9.3 build")
    assert list(parsed) == ["hydra-core", "fsspec", "torch", "antlr4-python3-runtime"]
    assert parsed["hydra-core"] == Pin("Hydra_Core", "1.3.2")
    assert parsed["fsspec"].flags == {"replaces"}
    assert parsed["torch"].version is None and parsed["torch"].spec == "torch"
    assert parsed["antlr4-python3-runtime"].spec == "antlr4-python3-runtime==4.9.3"


@pytest.mark.parametrize("lines, message", [(["trl==0.24.0", "TRL==0.25.0"], "listed twice"),
                                            (["trl==0.24.0 sdist"], "unknown flag")])
def test_parse_pins_refuses_a_repeated_name_or_an_unknown_flag(lines, message):
    with pytest.raises(ValueError, match=message):
        parse_pins(lines)


def test_requirement_findings_against_carried_then_machine_versions():
    carried = pins("datasets==4.0.0", "fsspec==2025.3.0 replaces")
    machine = pins("transformers==5.17.0", "fsspec==2026.1.0", "pandas", "accelerate==1.15.0")
    findings = requirement_findings("datasets", [
        "fsspec[http]<=2025.3.0,>=2023.1.0",   # the carried version wins over the machine's
        "transformers<=5.6.0",                 # the machine's known version is outside: conflict
        "accelerate>=1.4.0",                   # met by the machine's known version
        "pandas>=2",                           # the machine has it, version not known
        "pandas",                              # a bare name: any version does
        "gradio",                              # nobody has it
        "importlib-resources; python_version < '3.9'",  # not on the machine's Python 3.12
    ], carried, machine, waivers={})
    assert [(Requirement(f.requirement).name, f.status) for f in findings] == [
        ("fsspec", "ok"), ("transformers", "conflict"), ("accelerate", "ok"), ("pandas", "unknown"),
        ("pandas", "ok"), ("gradio", "absent")]
    assert "2025.3.0 carried" in findings[0].detail and "5.17.0 on the machine" in findings[1].detail


def test_a_waiver_turns_a_conflict_into_a_reasoned_exception():
    machine = pins("transformers==5.17.0")
    waived = requirement_findings("LlamaFactory", ["transformers<=5.6.0"], {}, machine,
                                  waivers={("llamafactory", "transformers"): "version check off for the run"})
    other = requirement_findings("trl", ["transformers<=5.6.0"], {}, machine,
                                 waivers={("llamafactory", "transformers"): "version check off for the run"})
    assert (waived[0].status, other[0].status) == ("waived", "conflict")
    assert "version check off for the run" in waived[0].detail


def test_list_errors_name_version_drift_and_unmarked_overlaps():
    carried = pins("trl==0.24.0", "datasets==4.0.0", "fsspec==2025.3.0", "hydra-core==1.3.2 replaces", "omegaconf")
    machine = pins("fsspec", "torch==2.11.0")
    installed = {"trl": "0.24.0", "datasets": "4.1.0", "fsspec": "2025.3.0", "hydra-core": "1.3.2",
                 "omegaconf": "2.3.1"}
    errors = list_errors(carried, machine, installed)
    assert len(errors) == 4
    assert any(e.startswith("datasets==4.0.0: this project runs 4.1.0") for e in errors)
    assert any(e.startswith("fsspec: the machine has it") for e in errors)
    assert any(e.startswith("hydra-core: marked `replaces`") for e in errors)
    assert any(e.startswith("omegaconf: no version") for e in errors)
    assert list_errors(pins("trl==0.24.0"), machine, {"trl": "0.24.0"}) == []


def write_wheel(folder: Path, name: str, size: int) -> None:
    (folder / name).write_bytes(b"x" * size)


def test_inventory_matches_files_by_name_and_version(tmp_path):
    write_wheel(tmp_path, "trl-0.24.0-py3-none-any.whl", 1000)
    write_wheel(tmp_path, "hydra_core-1.3.2-py3-none-any.whl", 300)
    write_wheel(tmp_path, "trl-0.25.0-py3-none-any.whl", 5)          # a second version would stop pip there
    write_wheel(tmp_path, "notes.txt", 5)
    found = inventory(tmp_path, pins("trl==0.24.0", "hydra-core==1.3.2", "datasets==4.0.0"))
    assert found.sizes == {"trl": 1000, "hydra-core": 300} and found.total == 1300
    assert found.missing == ["datasets==4.0.0"]
    assert sorted(found.unexpected) == ["notes.txt", "trl-0.25.0-py3-none-any.whl"]
    assert inventory(tmp_path / "absent", pins("trl==0.24.0")).missing == ["trl==0.24.0"]


def test_budget_counts_the_wheels_and_the_working_tree_together():
    limit = 64 * 2**20
    assert budget_errors(40 * 2**20, 24 * 2**20, limit) == []
    assert "over the 64.00 MiB" in budget_errors(40 * 2**20, 24 * 2**20 + 1, limit)[0]
    assert budget_errors(limit + 1, None, limit)


def test_download_commands_fetch_wheels_for_the_machines_python_and_build_sdists():
    commands = gpu_plan.download_commands(pins("trl==0.24.0", "antlr4-python3-runtime==4.9.3 build"),
                                          Path("/w"), ["pip"])
    download, build = commands
    assert download[:4] == ["pip", "download", "--no-deps", "--only-binary=:all:"]
    assert download[download.index("--python-version") + 1] == "3.12"
    assert "manylinux_2_17_x86_64" in download and download[-3:] == ["-d", "/w", "trl==0.24.0"]
    assert build == ["pip", "wheel", "--no-deps", "--no-binary=antlr4-python3-runtime", "-w", "/w",
                     "antlr4-python3-runtime==4.9.3"]


def test_the_repository_lists_carry_this_projects_versions():
    carried, machine = gpu_plan.read_pins(gpu_plan.WHEELS_FILE), gpu_plan.read_pins(gpu_plan.PACKAGES_FILE)
    assert list_errors(carried, machine, gpu_plan.installed_versions(carried)) == []
    assert {"llamafactory", "trl", "datasets", "hydra-core"} <= set(carried)
    assert {"ray", "vllm"}.isdisjoint(carried)  # far over the limit: the check runs without them


@pytest.mark.slow
def test_every_process_of_the_check_imports_with_only_the_machines_packages_and_the_carried_wheels():
    """The real import closure: each role imports under the hiding finder; without TRL carried, GRPO cannot."""
    carried, machine = gpu_plan.read_pins(gpu_plan.WHEELS_FILE), gpu_plan.read_pins(gpu_plan.PACKAGES_FILE)
    allowed = set(carried) | set(machine) | gpu_plan.implied_packages(machine)
    for role, targets in gpu_plan.ROLES.items():
        result = gpu_plan.probe_role(targets, allowed)
        assert result["ok"], f"{role}: {result['error']}"
        assert "ray" in result["refused"] or role != "sft"  # LLaMA-Factory looks for Ray and goes on without it
        assert set(result["imported"]) <= allowed
    without_trl = gpu_plan.probe_role(gpu_plan.ROLES["grpo"], allowed - {"trl"})
    assert not without_trl["ok"] and "trl" in without_trl["refused"]


@pytest.mark.slow
def test_the_downloaded_wheel_set_is_complete_and_under_the_limit(tmp_path):
    """The documented download (PyPI, a few MB) gives exactly the listed wheels, within what travels."""
    carried = gpu_plan.read_pins(gpu_plan.WHEELS_FILE)
    folder = gpu_plan.WHEEL_DIR
    if inventory(folder, carried).missing:
        folder = tmp_path
        assert gpu_plan.download(folder) == 0
    found = inventory(folder, carried)
    assert (found.missing, found.unexpected) == ([], [])
    assert all(name.endswith(("-none-any.whl", "abi3-manylinux_2_17_x86_64.whl")) for name in found.files.values())
    assert budget_errors(found.total, gpu_plan.tree_bytes()) == []
    assert found.total < 8 * 2**20
