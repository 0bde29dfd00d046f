"""``backend=llamafactory``: evaluation reads the ``generated_predictions.jsonl`` that LLaMA-Factory itself writes.

The file comes from LLaMA-Factory's own predict run (``llamafactory-cli train`` with ``do_predict``, its
``CustomSeq2SeqTrainer.save_predictions``) on the tiny model, over a dataset folder built by
``converters.stages.build_sft_stage`` from the benchmark's test records, in their order.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir

from converters.stages import build_sft_stage
from eval.benchmarks import resolve
from eval.intervals import dataset_interval
from eval.metrics import score
from eval.predictions_io import PredictionFileError, load_llamafactory_predictions
from eval.run_benchmark import CONFIG_DIR, run_benchmark

pytestmark = pytest.mark.slow  # one LLaMA-Factory predict run (~20 s)

BENCHMARK = "bundled_semeval"
LIMIT = 5
STYLE = "sa"


@pytest.fixture(scope="module")
def lf_run(tmp_path_factory, tiny_model_dir: Path) -> tuple[list[dict], Path]:
    """(the gold records, predictions_dir) where ``<predictions_dir>/<dataset>/generated_predictions.jsonl`` is
    LLaMA-Factory's output for them."""
    (dataset,) = resolve(BENCHMARK)
    records = dataset.records(None)[:LIMIT]
    tmp = tmp_path_factory.mktemp("lf_predict")
    gold = tmp / "gold.jsonl"
    gold.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    build_sft_stage("bench", {dataset.task: len(records)}, {dataset.task: [{"format": "canonical", "path": str(gold)}]},
                    tmp / "data", style=STYLE, seed=0)  # the whole pool once: rows in record order
    predictions_dir = tmp / "predictions"
    config = {"model_name_or_path": str(tiny_model_dir), "stage": "sft", "finetuning_type": "full",
              "do_predict": True, "predict_with_generate": True, "eval_dataset": "bench",
              "dataset_dir": str(tmp / "data"), "template": "qwen3_nothink", "cutoff_len": 1024, "max_new_tokens": 8,
              "do_sample": False, "per_device_eval_batch_size": LIMIT, "output_dir": str(predictions_dir / dataset.key),
              "use_cpu": True, "report_to": "none"}
    (tmp / "predict.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(["llamafactory-cli", "train", str(tmp / "predict.yaml")], env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    return records, predictions_dir


def _file(predictions_dir: Path) -> Path:
    return predictions_dir / resolve(BENCHMARK)[0].key / "generated_predictions.jsonl"


def test_llamafactory_rows_are_read_in_gold_order_with_their_checks(lf_run, tmp_path):
    records, predictions_dir = lf_run
    path = _file(predictions_dir)
    written = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    rows = load_llamafactory_predictions(path, records, style=STYLE)
    assert [r["id"] for r in rows] == [r["id"] for r in records]
    assert [r["prediction"] for r in rows] == [w["predict"] for w in written]
    with pytest.raises(PredictionFileError, match=r"generated_predictions\.jsonl:1: label differs .* \(style 'cm'"):
        load_llamafactory_predictions(path, records, style="cm")
    with pytest.raises(PredictionFileError, match=r":1: prompt does not contain the text of gold record"):
        load_llamafactory_predictions(path, records[1:] + records[:1], style=STYLE)
    with pytest.raises(PredictionFileError, match=rf"{LIMIT} rows for {LIMIT - 1} gold records"):
        load_llamafactory_predictions(path, records[:-1], style=STYLE)
    broken = tmp_path / "broken.jsonl"
    written[2].pop("predict")
    broken.write_text("".join(json.dumps(w, ensure_ascii=False) + "\n" for w in written), encoding="utf-8")
    with pytest.raises(PredictionFileError, match=r"broken\.jsonl:3: missing field 'predict'"):
        load_llamafactory_predictions(broken, records, style=STYLE)


def _cfg(tiny_model_dir: Path, out_dir: Path, *overrides: str):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose("default", overrides=[f"model={tiny_model_dir}", f"out_dir={out_dir}", f"benchmark={BENCHMARK}",
                                             f"limit={LIMIT}", f"style={STYLE}", "backend=llamafactory", *overrides])


def test_run_benchmark_scores_llamafactory_predictions(lf_run, tiny_model_dir, tmp_path):
    records, predictions_dir = lf_run
    report = run_benchmark(_cfg(tiny_model_dir, tmp_path, f"predictions_dir={predictions_dir}"))
    (result,) = report["datasets"]
    assert report["backend"] == "llamafactory" and result["n"] == len(records)
    predictions = [json.loads(line)["predict"] for line in _file(predictions_dir).read_text().splitlines()]
    for scorer in ("strict", "instructuie"):
        expected = score("re", records, predictions, scorer, per_record=True)  # and the interval it gives
        assert result["scores"][scorer] == {**expected, "interval": dataset_interval(expected)}
    checks = (tmp_path / "predictions" / f"{resolve(BENCHMARK)[0].key}.checks.jsonl").read_text().splitlines()
    assert [json.loads(c)["id"] for c in checks] == [r["id"] for r in records]


def test_backend_llamafactory_without_a_predictions_folder_is_an_error(tiny_model_dir, tmp_path):
    with pytest.raises(ValueError, match=r"backend=llamafactory needs predictions_dir \(holding <dataset>/"):
        run_benchmark(_cfg(tiny_model_dir, tmp_path))
    with pytest.raises(FileNotFoundError, match="generated_predictions.jsonl"):
        run_benchmark(_cfg(tiny_model_dir, tmp_path, f"predictions_dir={tmp_path / 'none'}"))
