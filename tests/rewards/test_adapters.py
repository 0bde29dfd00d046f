"""The EasyR1, verl and TRL adapters: their calling conventions, and agreement with the core to 1e-12."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from converters.bundled import bundled_records
from converters.format import render_target
from rewards import easyr1, verl
from rewards.config import RECIPE_PATH
from rewards.inputs import config_from_kwargs
from rewards.sfr import SCORE_KEYS, score_response
from rewards.trl import SFRReward, completion_text, sfr_reward_funcs, sfr_reward_weights
from tests.helpers.rewards import recipe_config, recipe_kwargs

ROOT = Path(__file__).resolve().parents[2]
RECORDS = bundled_records("ncbi", "dev")[:5] + bundled_records("semeval", "dev")[:5] + bundled_records("phee",
                                                                                                        "dev")[:5]


def _responses(record: dict) -> list[str]:
    target = render_target(record, "sa")
    return [target, render_target(record, "cm"), target[: len(target) // 2], "no JSON here", "{}"]


CASES = [(r, json.dumps(r), resp) for r in RECORDS for resp in _responses(r)]
OVERRIDES = {"variant": "fine_only", "clip": True, "ner": {"gamma": 2.0}, "ee": {"lambda_F": 0.5}}
KWARGS = recipe_kwargs(**OVERRIDES)  # the whole config inline, as the planner writes it
FILE_KWARGS = {"config": str(RECIPE_PATH), "profile": "default", **OVERRIDES}  # a YAML file plus overrides
KWARG_FORMS = [recipe_kwargs(), KWARGS, FILE_KWARGS]


@pytest.mark.parametrize("kwargs", KWARG_FORMS)
def test_easyr1_batch_matches_the_core(kwargs):
    config = config_from_kwargs(kwargs)
    assert config == (recipe_config() if kwargs == recipe_kwargs() else recipe_config(**OVERRIDES))
    batch = [{"response": resp, "response_length": len(resp), "ground_truth": gt} for _, gt, resp in CASES]
    out = easyr1.compute_score(batch, **kwargs)
    assert len(out) == len(CASES)
    for (record, _, resp), got in zip(CASES, out):
        assert list(got) == list(SCORE_KEYS)
        want = score_response(resp, record, config).as_dict()
        assert got == pytest.approx(want, abs=1e-12, rel=0)
    assert easyr1.REWARD_NAME == "prouie_sfr" and easyr1.REWARD_TYPE == "batch"


@pytest.mark.parametrize("kwargs", KWARG_FORMS)
def test_verl_matches_the_core_with_the_same_keys_everywhere(kwargs):
    config = config_from_kwargs(kwargs)
    keys = None
    for record, gt, resp in CASES:
        got = verl.compute_score(data_source=record["dataset"], solution_str=resp, ground_truth=gt,
                                 extra_info={"index": 0}, **kwargs)
        keys = keys or list(got)
        assert list(got) == keys and "score" in got and "overall" not in got
        assert got["score"] == pytest.approx(score_response(resp, record, config).overall, abs=1e-12, rel=0)
    assert verl.compute_score("x", CASES[0][2], CASES[0][0], **kwargs)["score"] == 1.0  # a dict ground truth too
    # verl adds reward-model handles to the kwargs when a reward model is enabled
    assert verl.compute_score("x", CASES[0][2], CASES[0][1], reward_router_address="h:1", **kwargs)["score"] == 1.0


@pytest.fixture(scope="module")
def grpo_trainer(tiny_model_dir, tmp_path_factory):
    """TRL's own GRPOTrainer on the tiny model with the SFR reward functions, as launch/engines/trl.py builds it."""
    from launch.engines.trl import fix_trl_optional_flags

    fix_trl_optional_flags()
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    if not hasattr(model, "warnings_issued"):  # as launch/engines/trl.py: TRL 0.24 writes to it; transformers 5 not
        model.warnings_issued = {}
    funcs = sfr_reward_funcs(**KWARGS)
    args = GRPOConfig(output_dir=str(tmp_path_factory.mktemp("grpo")), per_device_train_batch_size=2,
                      num_generations=2, max_completion_length=8, use_cpu=True, bf16=False, report_to="none",
                      reward_weights=sfr_reward_weights(funcs))
    dataset = Dataset.from_list([{"prompt": "p", "answer": CASES[0][1], "id": "x"}] * 2)
    return GRPOTrainer(model=model, reward_funcs=funcs, args=args, train_dataset=dataset,
                       processing_class=AutoTokenizer.from_pretrained(tiny_model_dir))


@pytest.mark.slow  # builds a GRPOTrainer (~10 s)
@pytest.mark.parametrize("conversational", [False, True])
def test_trl_s_own_reward_call_scores_every_completion_like_the_core(grpo_trainer, conversational):
    """GRPOTrainer._calculate_rewards, the call TRL makes every step: dataset columns (our ``answer``) repeated
    per completion, completions as text or as assistant messages, one column per reward function."""
    rows = [{"prompt": [{"role": "user", "content": "p"}] if conversational else "p", "answer": gt, "id": record["id"]}
            for record, gt, _ in CASES]
    completions = [[{"role": "assistant", "content": resp}] if conversational else resp for _, _, resp in CASES]
    rewards = grpo_trainer._calculate_rewards(rows, [r["prompt"] for r in rows], completions,
                                              [[1, 2]] * len(CASES))
    config = recipe_config(**OVERRIDES)
    want = [score_response(resp, record, config) for record, _, resp in CASES]
    assert grpo_trainer.reward_func_names == ["sfr"] + [f"sfr_{k}" for k in SCORE_KEYS[1:]]
    assert grpo_trainer.reward_weights.tolist() == [1.0] + [0.0] * (len(SCORE_KEYS) - 1)
    for i, key in enumerate(SCORE_KEYS):
        assert rewards[:, i].tolist() == pytest.approx([getattr(w, key) for w in want], abs=1e-6, rel=0)
    assert completion_text([{"role": "assistant", "content": "x"}]) == "x" and completion_text("y") == "y"


def test_trl_sub_score_functions_are_logged_with_weight_zero():
    funcs = sfr_reward_funcs(**recipe_kwargs(variant="coarse_only"))
    assert [f.__name__ for f in funcs] == ["sfr"] + [f"sfr_{k}" for k in SCORE_KEYS[1:]]
    assert sfr_reward_weights(funcs) == [1.0] + [0.0] * (len(SCORE_KEYS) - 1)
    completions, answers = [c[2] for c in CASES], [c[1] for c in CASES]
    config = recipe_config(variant="coarse_only")
    for f in funcs:
        want = [getattr(score_response(resp, rec, config), f.key) for rec, _, resp in CASES]
        assert f(completions=completions, answer=answers) == pytest.approx(want, abs=1e-12, rel=0)
    with pytest.raises(ValueError, match="sub-score"):
        SFRReward("accuracy")


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(RECORDS), st.text(max_size=200), st.sampled_from(["sfr", "coarse_only", "fine_only"]))
def test_all_adapters_agree_with_the_core(record, response, variant):
    gt = json.dumps(record)
    core = score_response(response, record, recipe_config(variant=variant)).overall
    kwargs = recipe_kwargs(variant=variant)
    e = easyr1.compute_score([{"response": response, "response_length": 1, "ground_truth": gt}], **kwargs)
    v = verl.compute_score("d", response, gt, None, **kwargs)
    t = SFRReward(**kwargs)(completions=[response], answer=[gt])
    assert abs(e[0]["overall"] - core) <= 1e-12 and abs(v["score"] - core) <= 1e-12 and abs(t[0] - core) <= 1e-12


def test_bad_kwargs_and_ground_truth_fail_clearly():
    with pytest.raises(ValueError, match="unknown key 'weight'"):
        config_from_kwargs({"weight": 1})
    with pytest.raises(ValueError, match="reward kwargs: empty; give the SFR config"):
        config_from_kwargs({})  # no silent default: the run's own settings or nothing
    with pytest.raises(ValueError, match="reward kwargs: key 'profile': missing"):
        config_from_kwargs({k: v for k, v in recipe_kwargs().items() if k != "profile"})
    with pytest.raises(ValueError, match="sfr.yaml.*key 'profile': missing"):
        config_from_kwargs({"config": str(RECIPE_PATH)})  # the recipe file has no profile: the run gives it
    with pytest.raises(ValueError, match="ground_truth: not a JSON record"):
        verl.compute_score("d", "{}", "not json", **KWARGS)
    with pytest.raises(ValueError, match="ground_truth.*'task'"):
        verl.compute_score("d", "{}", json.dumps({"id": "1", "dataset": "d", "text": "t", "labels": []}), **KWARGS)


def test_a_reward_config_file_edited_during_a_run_is_read_again(tmp_path):
    import yaml

    path = tmp_path / "sfr.yaml"
    raw = yaml.safe_load(RECIPE_PATH.read_text())
    path.write_text(yaml.safe_dump(raw))
    assert config_from_kwargs({"config": str(path), "profile": "default"}).variant == "sfr"
    path.write_text(yaml.safe_dump({**raw, "variant": "fine_only", "clip": True}))
    assert config_from_kwargs({"config": str(path), "profile": "default"}).variant == "fine_only"


def test_easyr1_file_loads_by_path_without_the_repo_on_sys_path(tmp_path):
    """As EasyR1's reward actor does: spec_from_file_location on the file, from another directory."""
    record = RECORDS[0]
    script = f"""
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("custom_reward_fn", {str(ROOT / "rewards" / "easyr1.py")!r})
module = importlib.util.module_from_spec(spec)
sys.modules["custom_reward_fn"] = module
spec.loader.exec_module(module)
out = module.compute_score([{{"response": {render_target(record, "sa")!r}, "response_length": 3,
                             "ground_truth": {json.dumps(record)!r}}}], **{recipe_kwargs()!r})
print(json.dumps({{"out": out, "type": module.REWARD_TYPE, "torch": "torch" in sys.modules}}))
"""
    proc = subprocess.run([sys.executable, "-I", "-c", script], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["out"][0]["overall"] == 1.0 and result["type"] == "batch"
    assert result["torch"] is False  # the reward actor stays light
