"""Evaluate a model on a benchmark: predict every test set, score it (strict and instructuie), write reports.

    python eval/run_benchmark.py benchmark=ner model=DIR data_dir=/data/IE_INSTRUCTIONS
    python eval/run_benchmark.py benchmark=smoke model=DIR                 # bundled test slices, CPU
    python eval/run_benchmark.py benchmark=re model=DIR backend=llamafactory predictions_dir=DIR

Config: ``recipes/eval/default.yaml``. Outputs in ``out_dir``: ``predictions/<dataset>.jsonl`` (resumable),
``report.json``, ``report.md``, ``scores.png``, ``lengths.png``. The pipeline's eval stage calls
``run_benchmark(cfg)``. Every score carries its 95 % bootstrap interval (``interval``; task averages in
``average_intervals``) and the counts of every test record it sums (``records``), so that progression and studies
can compute paired intervals of differences (``eval.intervals``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Mapping

import hydra
from omegaconf import DictConfig, OmegaConf

from converters.chat import stop_tokens
from converters.lengths import output_lengths, percentile_buckets
from converters.readers import ReadLog
from eval.benchmarks import BenchmarkDataset, check_limits, resolve
from eval.instructuie import average
from eval.intervals import dataset_interval, interval_of, metric_replicates, records_id, settings
from eval.label_check import label_warnings, manifest_paths, run_manifests, trained_labels
from eval.metrics import headline, parse_predictions, prediction_check, score, score_parts, validity
from eval.predict import Generator, make_generator, predict
from eval.predictions_io import load_llamafactory_predictions
from eval.report import TABLES, write_report

CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "recipes" / "eval")
TABLE_PARTS = [(task, part) for task, tables in TABLES.items() for _, _, part in tables]  # one average per table


def _config_hash(cfg: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _tokenizer(model: str) -> Any | None:
    try:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(model)
    except (OSError, ValueError):
        return None


def _rows(ds: BenchmarkDataset, records: list[dict[str, Any]], cfg: Mapping[str, Any], out_dir: Path, tokenizer: Any,
          generator: Generator | None) -> list[dict[str, Any]]:
    if cfg["backend"] == "llamafactory":
        if cfg.get("constrained"):
            raise ValueError("constrained: backend=llamafactory reads finished predictions; constrained decoding needs "
                             "backend=transformers or vllm")
        if not cfg.get("predictions_dir"):
            raise ValueError("backend=llamafactory needs predictions_dir "
                             "(holding <dataset>/generated_predictions.jsonl)")
        path = Path(cfg["predictions_dir"]) / ds.key / "generated_predictions.jsonl"
        stops = stop_tokens(cfg["template"], tokenizer) if tokenizer is not None else ()
        return load_llamafactory_predictions(path, records, cfg["style"], cfg["profile"], stops)
    return predict(records, cfg["model"], out_dir / "predictions" / f"{ds.key}.jsonl", backend=cfg["backend"],
                   template=cfg["template"], style=cfg["style"], profile=cfg["profile"],
                   max_new_tokens=cfg["max_new_tokens"], batch_size=cfg["batch_size"], device=cfg.get("device"),
                   generator=generator, constrained=bool(cfg.get("constrained", False)), bf16=bool(cfg.get("bf16")))


def _scored(task: str, records: list[dict[str, Any]], predictions: list[str], scorer: str, profile: str,
            parsed: list[Any]) -> dict[str, Any]:
    """One scorer's result with every record's counts and, per score, its 95 % bootstrap interval."""
    result = score(task, records, predictions, scorer, profile, parsed=parsed, per_record=True)
    for part in score_parts(result):
        part["interval"] = dataset_interval(part)
    return result


def run_benchmark(cfg: Mapping[str, Any] | DictConfig,
                  generator: Generator | None = None) -> dict[str, Any]:
    """Predict, score and report one benchmark; returns the JSON report (also written to ``out_dir``).

    ``generator`` replaces the backend's (tests; callers keeping one model loaded).
    """
    if isinstance(cfg, DictConfig):
        cfg = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
    cfg = {k: v for k, v in cfg.items() if k != "hydra"}
    out_dir = Path(cfg["out_dir"])
    datasets = resolve(cfg["benchmark"])
    check_limits(cfg["benchmark"], cfg.get("limits"), datasets)  # before the model loads
    if generator is None and cfg["backend"] in ("transformers", "vllm"):
        generator = make_generator(cfg["model"], cfg["template"], cfg["backend"], cfg["max_new_tokens"],
                                   cfg.get("device"), bool(cfg.get("bf16")))
    tokenizer = _tokenizer(cfg["model"])
    manifests = manifest_paths(cfg["train_manifests"]) if cfg.get("train_manifests") else run_manifests(cfg["model"])
    trained = trained_labels(manifests)
    limits = dict(cfg.get("limits") or {})
    results, raw_lengths = [], {}
    for ds in datasets:
        read_log = ReadLog()
        records = ds.records(cfg.get("data_dir"), read_log)[: limits.get(ds.key, cfg.get("limit")) or None]
        rows = _rows(ds, records, cfg, out_dir, tokenizer, generator)
        predictions = [r["prediction"] for r in rows]
        parsed = parse_predictions(records, predictions, cfg["profile"])
        lengths = output_lengths(predictions, tokenizer)
        raw_lengths.setdefault(ds.task, []).extend(lengths)
        checks_path = out_dir / "predictions" / f"{ds.key}.checks.jsonl"
        checks_path.parent.mkdir(parents=True, exist_ok=True)
        checks_path.write_text("".join(json.dumps({"id": r["id"], **prediction_check(p)}, ensure_ascii=False) + "\n"
                                       for r, p in zip(rows, parsed)), encoding="utf-8")
        results.append({"key": ds.key, "task": ds.task, "paper_key": ds.paper_key, "ood": ds.ood, "n": len(records),
                        "records_id": records_id([r["id"] for r in records]),
                        "scores": {s: _scored(ds.task, records, predictions, s, cfg["profile"], parsed)
                                   for s in cfg["scorers"]},
                        "validity": validity(parsed), "lengths": percentile_buckets(lengths),
                        "read": read_log.to_json(),
                        "label_check": [w for labels in read_log.labels.values()
                                        for w in label_warnings(ds.task, labels, trained)]})
    averages, average_intervals = {}, {}  # unweighted over datasets, per task (EE: trigger and argument) and scorer
    for scorer in cfg["scorers"]:
        for task, part in TABLE_PARTS:
            vals = [headline(r["scores"][scorer], part) for r in results if r["task"] == task]
            if vals:
                key = f"{task}{'_' + part if part else ''}/{scorer}"
                averages[key] = average(vals)
                average_intervals[key] = interval_of(metric_replicates(results, scorer, task, part))
    report = {"benchmark": cfg["benchmark"], "model": str(cfg["model"]), "recipe_hash": cfg.get("recipe_hash"),
              "config_hash": _config_hash(cfg), "config": cfg, "scorers": list(cfg["scorers"]),
              "backend": cfg["backend"], "template": cfg["template"], "style": cfg["style"],
              "profile": cfg["profile"], "constrained": bool(cfg.get("constrained", False)),
              "length_unit": "chars" if tokenizer is None else "tokens",
              "train_manifests": [str(p) for p in manifests],
              "datasets": results, "averages": averages, "average_intervals": average_intervals,
              "bootstrap": settings(),
              "lengths": {task: percentile_buckets(v) for task, v in raw_lengths.items()}}
    report["files"] = {k: str(v) for k, v in write_report(report, raw_lengths, out_dir).items()}
    return report


@hydra.main(config_path=CONFIG_DIR, config_name="default", version_base="1.3")
def main(cfg: DictConfig) -> None:
    report = run_benchmark(cfg)
    print(Path(report["files"]["markdown"]).read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
