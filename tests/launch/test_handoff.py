"""The model hand-off between environments: transformers 5.6 (main) -> EasyR1's 4.57 and verl's 5.x, and back.

A folder written the way LLaMA-Factory / TRL write it (transformers 5.6 ``save_pretrained``, Qwen2 tokenizer with
extra special tokens, Qwen3's rotary base 1e6) is NOT the same model in EasyR1's environment (4.57 reads
``rope_theta`` 10,000, or fails on the tokenizer); the check says so, ``hf_compat.normalise`` fixes it, and the
same check then passes in both engine environments. The engine -> main direction is covered on merged
checkpoints in test_engines.py.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from launch.compose import compose_recipe
from launch.models import hf_compat
from launch.models.handoff import REPORT, check_same_model, ensure_handoff
from launch.plan import build_plan
from launch.stage import StageFailed


@pytest.fixture(scope="module")
def sft_like_output(tmp_path_factory, tiny_model_dir) -> Path:
    """The tiny model re-saved by the main environment's transformers, as an SFT stage's output folder."""
    from transformers import AutoModelForCausalLM, Qwen2Tokenizer

    out = tmp_path_factory.mktemp("sft") / "output"
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    model.save_pretrained(out)
    Qwen2Tokenizer.from_pretrained(tiny_model_dir, additional_special_tokens=["<|im_start|>", "<|im_end|>"]) \
        .save_pretrained(out)
    config = json.loads((out / "config.json").read_text())
    assert "rope_theta" not in config and config["rope_parameters"]["rope_theta"] == 1_000_000
    assert isinstance(json.loads((out / "tokenizer_config.json").read_text())["extra_special_tokens"], list)
    return out


def test_normalise_adds_what_4x_reads_and_is_idempotent(sft_like_output, tmp_path):
    folder = tmp_path / "m"
    shutil.copytree(sft_like_output, folder)
    changed = hf_compat.normalise(folder)
    config = json.loads((folder / "config.json").read_text())
    tok = json.loads((folder / "tokenizer_config.json").read_text())
    assert config["rope_theta"] == 1_000_000 and config["rope_scaling"] is None
    assert config["rope_parameters"] == {"rope_theta": 1_000_000, "rope_type": "default"}  # 5.x keeps reading it
    assert "extra_special_tokens" not in tok and tok["additional_special_tokens"] == ["<|im_start|>", "<|im_end|>"]
    assert len(changed) == 4 and hf_compat.normalise(folder) == []


def test_an_sft_output_is_not_the_same_model_in_easyr1_until_normalised(sft_like_output, engine_envs, tmp_path):
    folder = tmp_path / "m"
    shutil.copytree(sft_like_output, folder)
    with pytest.raises(StageFailed, match=r"(?s)does not load in the environment of .*easyr1.*'list' object has no "
                                          r"attribute 'keys'"):
        check_same_model("de_ner", str(folder), sys.executable, str(engine_envs["easyr1"]))
    tok = json.loads((folder / "tokenizer_config.json").read_text())
    tok["additional_special_tokens"] = tok.pop("extra_special_tokens")  # only the tokenizer: rope still differs
    (folder / "tokenizer_config.json").write_text(json.dumps(tok))
    with pytest.raises(StageFailed, match=r"(?s)transformers 5\.6\.0.*transformers 4\.57\.6.*logits differ by up to"):
        check_same_model("de_ner", str(folder), sys.executable, str(engine_envs["easyr1"]))
    hf_compat.normalise(folder)
    for engine in ("easyr1", "verl"):
        report = check_same_model("de_ner", str(folder), sys.executable, str(engine_envs[engine]))
        assert report["max_logit_difference"] <= 1e-4


def test_the_driver_checks_the_handoff_before_a_stage_in_another_environment(tmp_path, engine_envs, tiny_model_dir):
    """ensure_handoff: a de_ner stage in EasyR1's environment after SFT in the main one normalises the SFT
    output, checks it, records it, and does not check again on a resumed attempt."""
    assert engine_envs["easyr1"].is_file()
    plan = build_plan(compose_recipe(["+experiment=smoke", "grpo=easyr1_smoke", "cluster.gpus_per_node=1",
                                      f"pipeline.run_dir={tmp_path}", "pipeline.skip=[cm_ner,cm_ner_re,cm_all]"]))
    sa, de_ner = plan.stages[0], plan.stages[1]
    assert (sa.name, de_ner.name, de_ner.input_stage) == ("sa", "de_ner", "sa")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    AutoModelForCausalLM.from_pretrained(tiny_model_dir).save_pretrained(sa.output_dir)  # what SFT leaves
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(sa.output_dir)
    assert "rope_theta" not in json.loads((sa.output_dir / "config.json").read_text())
    de_ner.stage_dir.mkdir(parents=True)
    report = ensure_handoff(de_ner, plan.stages)
    assert report["reader"] == de_ner.python and report["max_logit_difference"] <= 1e-4
    assert "config.json: rope_theta = 1000000.0" in report["normalised"]
    assert json.loads((de_ner.stage_dir / REPORT).read_text()) == report
    assert ensure_handoff(sa, plan.stages) is None  # same environment as its input's writer: nothing to check
    (sa.output_dir / "model.safetensors").write_bytes(b"")  # a resumed attempt trusts its own report
    assert ensure_handoff(de_ner, plan.stages) == report
