"""A run that starts from a checkpoint of an earlier run (``model.name_or_path=runs/x/sa/output`` with the stages
before DE skipped) asks that model the way it was trained: DE prompts and evaluations take the style from the
stage record beside the checkpoint (``runs/x/sa/data/manifest.json``), or from ``model.prompt_style``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from launch.compose import compose_recipe
from launch.plan import build_plan

DE_ONLY = ["+experiment=smoke", "pipeline.skip=[cm_ner,cm_ner_re,cm_all,sa]", "pipeline.eval.models=[base,final]"]


def _stage_output(tmp_path: Path, tiny_model_dir: Path, manifest: str | None) -> Path:
    """A stage folder of an earlier run: its model under output/, its record under data/."""
    stage = tmp_path / "earlier" / "sa"
    shutil.copytree(tiny_model_dir, stage / "output")
    if manifest is not None:
        (stage / "data").mkdir()
        (stage / "data" / "manifest.json").write_text(manifest)
    return stage / "output"


def _styles(model: Path, tmp_path: Path, *overrides: str) -> dict[str, str]:
    cfg = compose_recipe([*DE_ONLY, f"model.name_or_path={model}", f"pipeline.run_dir={tmp_path / 'run'}",
                          *overrides])
    return {s.name: s.data["style"] if s.kind == "grpo" else s.spec["style"] for s in build_plan(cfg).stages}


def test_de_and_eval_from_an_sa_checkpoint_ask_in_the_sa_style(tmp_path, tiny_model_dir):
    model = _stage_output(tmp_path, tiny_model_dir, json.dumps({"stage": "sa", "style": "sa"}))
    assert _styles(model, tmp_path) == {"de_ner": "sa", "de_re": "sa", "de_ee": "sa", "eval_base": "sa",
                                        "eval": "sa"}


def test_the_setting_wins_over_the_record_and_a_stage_style_over_both(tmp_path, tiny_model_dir):
    model = _stage_output(tmp_path, tiny_model_dir, json.dumps({"style": "sa"}))
    assert set(_styles(model, tmp_path, "model.prompt_style=cm").values()) == {"cm"}
    mixed = _styles(model, tmp_path, "model.prompt_style=cm", "+stages.de_ee.style=sa")
    assert (mixed["de_re"], mixed["de_ee"], mixed["eval"]) == ("cm", "sa", "sa")


def test_a_folder_without_a_stage_record_is_a_base_model(tmp_path, tiny_model_dir):
    assert set(_styles(_stage_output(tmp_path, tiny_model_dir, None), tmp_path).values()) == {"cm"}


@pytest.mark.parametrize("manifest, found", [(json.dumps({"style": "streamlined"}), "'style' 'streamlined'"),
                                             ("{torn", "not readable as a JSON object")])
def test_a_record_with_no_known_style_is_named_with_the_fix(tmp_path, tiny_model_dir, manifest, found):
    model = _stage_output(tmp_path, tiny_model_dir, manifest)
    record = model.parent / "data" / "manifest.json"
    with pytest.raises(ValueError, match=f"^{record}: {found}, expected one of .* set model.prompt_style"):
        _styles(model, tmp_path)


def test_an_unknown_prompt_style_fails_at_composition_by_path():
    with pytest.raises(ValueError, match=r"^model\.prompt_style: must be one of \('cm', 'sa'\) or null, got 'SA'"):
        compose_recipe(["+experiment=smoke", "model.prompt_style=SA"])
