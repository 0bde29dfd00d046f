"""The prouie_4b recipe holds the paper's numbers (Appendix A.3, Table 9), each once, with its source."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from launch.compose import compose_recipe

REPO = Path(__file__).resolve().parents[2]
EXPERIMENT = REPO / "recipes" / "experiment" / "prouie_4b.yaml"

# Literals copied from the paper (Appendix A.3 and Table 9), not from the recipe.
PAPER_MIXTURES = {
    "cm_ner": {"ner": 845_646},
    "cm_ner_re": {"ner": 44_951, "re": 179_794},
    "cm_all": {"ner": 7_494, "re": 7_494, "ee": 9_991},
    "sa": {"re": 9_000, "ee": 9_000},
}
PAPER_TABLE9_TOTALS = {"cm_ner": 845_646, "cm_ner_re": 224_745, "cm_all": 24_979, "sa": 18_000,
                       "de_ner": 80_000, "de_re": 50_000, "de_ee": 9_991}
PAPER_DE = {"de_ner": (80_000, 4, 2), "de_re": (50_000, 8, 3), "de_ee": (9_991, 8, 3)}  # count, n, epochs
PAPER_EPOCHS = {"cm_ner": 2, "cm_ner_re": 2, "cm_all": 2, "sa": 2, "de_ner": 2, "de_re": 3, "de_ee": 3}
PAPER_SFR = {
    "ner": {"w_t": 0.2, "w_p": 0.8, "gamma": 1.5, "lambda_t": 0.6, "lambda_p": 0.2},
    "re": {"w_t": 0.05, "w_h": 0.10, "w_a": 0.10, "w_r": 0.75, "gamma": 1.3, "lambda_t": 0.15, "lambda_r": 0.25},
    "ee": {"w_E": 0.05, "w_T": 0.15, "w_F": 0.8, "lambda_E": 1.0, "lambda_T": 0.5, "lambda_F": 0.3},
}


@pytest.fixture(scope="module")
def cfg() -> dict:
    return compose_recipe(["+experiment=prouie_4b"])


def test_model_engines_and_gpus(cfg):
    assert cfg["model"]["name_or_path"].endswith("Qwen3-4B")
    assert cfg["sft"]["engine"] == "llamafactory" and cfg["grpo"]["engine"] == "easyr1"
    assert cfg["cluster"]["gpus_per_node"] == 8 and cfg["cluster"]["gpu_type"] == "H20"


def test_cm_and_sa_mixtures(cfg):
    for stage, mixture in PAPER_MIXTURES.items():
        assert cfg["stages"][stage]["mixture"] == mixture
        assert sum(mixture.values()) == PAPER_TABLE9_TOTALS[stage]


def test_mixture_ratios(cfg):
    ner_re = cfg["stages"]["cm_ner_re"]["mixture"]
    assert ner_re["ner"] / (ner_re["ner"] + ner_re["re"]) == pytest.approx(0.2, abs=1e-4)
    three = cfg["stages"]["cm_all"]["mixture"]
    assert three["ee"] / sum(three.values()) == pytest.approx(0.4, abs=1e-3)


def test_de_counts_rollouts_epochs(cfg):
    for stage, (count, n, epochs) in PAPER_DE.items():
        spec = cfg["stages"][stage]
        assert (spec["count"], spec["rollout_n"], spec["epochs"]) == (count, n, epochs)
        assert spec["count"] == PAPER_TABLE9_TOTALS[stage]


def test_epochs(cfg):
    assert {name: cfg["stages"][name]["epochs"] for name in PAPER_EPOCHS} == PAPER_EPOCHS


def test_sfr_weights_from_the_reward_group(cfg):
    for task, weights in PAPER_SFR.items():
        for key, value in weights.items():
            assert cfg["reward"][task][key] == pytest.approx(value), f"reward.{task}.{key}"
    assert cfg["reward"]["variant"] == "sfr"


def test_the_36_datasets(cfg):
    sources = cfg["data"]["sources"]
    counts = {task: len(group["datasets"]) for task, group in sources.items()}
    assert counts == {"ner": 18, "re": 8, "ee": 3}
    assert len(cfg["data"]["ood_ner"]) == 7
    assert sum(counts.values()) + len(cfg["data"]["ood_ner"]) == 36


# 9,991 is two facts of the paper (CM phase 3 EE examples, DE phase 3 examples), so it is on two lines.
@pytest.mark.parametrize(("number", "lines_expected"), [("845646", 1), ("44951", 1), ("179794", 1), ("7494", 1),
                                                         ("9991", 2), ("9000", 1), ("80000", 1), ("50000", 1)])
def test_each_paper_number_is_written_once_with_its_source(number, lines_expected):
    lines = [line for line in EXPERIMENT.read_text().splitlines() if re.search(rf"\b{number}\b", line)]
    assert len(lines) == lines_expected, lines
    assert all("paper" in line.split("#", 1)[1] for line in lines)


def test_every_epoch_and_rollout_line_names_its_source():
    for line in EXPERIMENT.read_text().splitlines():
        if re.match(r"\s+(epochs|rollout_n|count):", line):
            assert "# paper A.3" in line, line


@pytest.mark.parametrize(("flags", "expected"), [
    ("fpu avx512f avx512_bf16 avx512_vnni", True),   # e.g. Sapphire Rapids, Zen 4
    ("fpu avx2 amx_bf16 amx_tile", True),
    ("fpu avx2 avx512f avx512bw", False),             # AVX-512 without BF16: bf16 would be emulated
    ("fpu avx2 avx512_bf16x", False),                  # a flag only by prefix is not the flag
])
def test_cpu_bf16_reads_the_cpu_flags(tmp_path: Path, flags: str, expected: bool) -> None:
    from launch.compose import cpu_bf16

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\n\nprocessor\t: 1\nflags\t\t: {flags}\n")
    assert cpu_bf16(cpuinfo) is expected
    assert cpu_bf16(tmp_path / "absent") is False  # no /proc/cpuinfo (macOS): fp32, the safe choice


def test_the_mini_recipe_trains_in_bf16_only_where_the_cpu_has_it() -> None:
    from launch.compose import cpu_bf16

    mini = compose_recipe(["+experiment=mini"])
    assert mini["sft"]["args"]["bf16"] is cpu_bf16() and isinstance(cpu_bf16(), bool)
    assert mini["sft"]["args"]["train_sampling_strategy"] == "group_by_length"


@pytest.mark.parametrize(("experiment", "has_bf16", "noted"), [
    ("mini", False, True), ("mini", True, False), ("smoke", False, False)])  # smoke asks fp32 itself
def test_a_run_says_when_its_cpu_trains_in_fp32_what_the_recipe_asked_in_bf16(
        monkeypatch: pytest.MonkeyPatch, experiment: str, has_bf16: bool, noted: bool) -> None:
    from hydra import compose, initialize_config_dir

    from launch import compose as composing

    monkeypatch.setattr(composing, "cpu_bf16", lambda: has_bf16)
    with initialize_config_dir(config_dir=str(composing.RECIPES), version_base=None):
        cfg = compose(config_name="config", overrides=[f"+experiment={experiment}"])
    note = composing.precision_note(cfg)
    assert (note is not None) is noted
    if noted:
        assert "fp32" in note and "docs/mini_fp32/NOTES.md" in note
