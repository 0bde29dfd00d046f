"""Stage data builders: exact, seeded task mixtures written as LLaMA-Factory (SFT) or GRPO datasets + manifest.

Both builders take plain mappings (they come from Hydra configs). ``sources`` maps a task to a list of reader
specs; a spec is either ``{"bundled": "ncbi", "split": "train"}`` or a full ``read_source`` spec.

Sampling (one recorded seed per stage): per task, records of all its sources are pooled (in source order)
and exactly ``count`` are drawn uniformly without replacement, with ``random.Random(f"{seed}/{task}")`` so a
task's draw does not depend on the other tasks. Only when the pool is smaller than the count is it
oversampled: every record ``count // pool`` times plus a without-replacement draw of the remainder; this is
flagged in the manifest and logged as a warning. Records are streamed twice (count, then draw), so memory
holds only the chosen indices. Rows are written grouped by task in mixture order, each group in pool order;
the trainers shuffle (LLaMA-Factory's sampler, EasyR1's ``data.shuffle``).

Every build writes ``manifest.json``: the resolved source specs with file hashes, pool sizes, counts per
task / dataset / split, seed, style, profile, oversampling, malformed rows skipped (non-strict) with their
locations, annotations dropped by documented reader rules, and the output files' hashes and row counts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from converters.bundled import bundled_spec
from converters.format import get_profile, render_prompt, render_target
from converters.readers import ReadLog, read_source, source_files

log = logging.getLogger(__name__)

SFT_COLUMNS = {"prompt": "instruction", "response": "output"}
_ENCODE = json.JSONEncoder(ensure_ascii=False).encode


def resolve_spec(spec: Mapping[str, Any], strict: bool = True) -> dict[str, Any]:
    """A full ``read_source`` spec: bundled shortcuts expanded; the stage's ``strict`` unless the spec sets it."""
    if "bundled" in spec:
        full = bundled_spec(spec["bundled"], spec.get("split", "train"))
        full.update({k: v for k, v in spec.items() if k not in ("bundled", "split")})
    else:
        full = dict(spec)
    full.setdefault("strict", strict)
    return full


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class _TaskDraw:
    """The exact, seeded draw of ``count`` records of one task from its pooled sources."""

    def __init__(self, task: str, count: int, specs: Sequence[Mapping[str, Any]], seed: int, strict: bool) -> None:
        if count < 0:
            raise ValueError(f"task {task!r}: count must be >= 0, got {count}")
        self.task, self.count = task, count
        self.specs = [resolve_spec(s, strict) for s in specs]
        if not self.specs:
            raise ValueError(f"task {task!r}: no sources given")
        self.logs = [ReadLog() for _ in self.specs]
        self.pools = [sum(1 for _ in self._records(i, self.logs[i])) for i in range(len(self.specs))]
        pool = sum(self.pools)
        if count and not pool:
            raise ValueError(f"task {task!r}: the sources hold no records, cannot draw {count}")
        rng = random.Random(f"{seed}/{task}")
        self.repeats, rest = divmod(count, pool) if pool else (0, 0)
        self.multiplicity: Counter = Counter(rng.sample(range(pool), rest))
        self.oversampled = self.repeats > 0 and count > pool
        if self.oversampled:
            log.warning("task %r: pool of %d records is smaller than the requested %d; oversampling "
                        "(every record %d times + %d drawn without replacement)", task, pool, count, self.repeats, rest)

    def _records(self, i: int, read_log: ReadLog) -> Iterator[dict[str, Any]]:
        for rec in read_source(self.specs[i], read_log):
            if rec["task"] != self.task:
                raise ValueError(f"source {self.specs[i]!r} gave a {rec['task']!r} record {rec['id']!r} "
                                 f"for task {self.task!r}")
            yield rec

    def records(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """``(split, record)`` of the drawn records (oversampled ones repeated), streamed in pool order."""
        index = 0
        for i, spec in enumerate(self.specs):
            split = str(spec.get("split", ""))
            for rec in self._records(i, ReadLog()):
                for _ in range(self.repeats + self.multiplicity.get(index, 0)):
                    yield split, rec
                index += 1

    def manifest(self, counts: Mapping[tuple[str, str], int]) -> dict[str, Any]:
        return {
            "requested": self.count,
            "pool": sum(self.pools),
            "oversampled": self.oversampled,
            "repeats_of_every_record": self.repeats if self.oversampled else 0,
            "counts": {f"{d}/{s}": n for (d, s), n in sorted(counts.items())},
            "sources": [
                {"spec": spec, "pool": pool,
                 "files": [{"path": str(p), "sha256": file_sha256(p)} for p in source_files(spec)],
                 "read": read_log.to_json()}
                for spec, pool, read_log in zip(self.specs, self.pools, self.logs)
            ],
        }


def _build(kind: str, name: str, plan: Mapping[str, int], sources: Mapping[str, Sequence[Mapping[str, Any]]],
           out_file: Path, row: Callable[[dict[str, Any], int], dict[str, Any]], settings: dict[str, Any],
           seed: int, strict: bool, progress: bool) -> dict[str, Any]:
    missing = [t for t in plan if t not in sources]
    if missing:
        raise ValueError(f"stage {name!r}: no sources for task(s) {missing}; sources has {sorted(sources)}")
    draws = [_TaskDraw(task, int(count), sources[task], seed, strict) for task, count in plan.items()]
    out_file.parent.mkdir(parents=True, exist_ok=True)
    digest, rows = hashlib.sha256(), 0
    tasks: dict[str, Any] = {}
    bar = _progress_bar(sum(d.count for d in draws), f"{kind} {name}", progress)
    with open(out_file, "w", encoding="utf-8") as fh:
        for draw in draws:
            counts: Counter = Counter()
            for split, rec in draw.records():
                line = _ENCODE(row(rec, rows)) + "\n"
                fh.write(line)
                digest.update(line.encode("utf-8"))
                counts[(rec["dataset"], split)] += 1
                rows += 1
                bar.update(1)
            tasks[draw.task] = draw.manifest(counts)
    bar.close()
    skipped = [s for d in draws for lg in d.logs for s in lg.skipped]
    manifest = {
        "stage": name, "kind": kind, "seed": seed, "strict": strict, **settings,
        "tasks": tasks, "rows": rows,
        "oversampled_tasks": [d.task for d in draws if d.oversampled],
        "skipped_count": len(skipped), "skipped": skipped,
        "outputs": [{"file": out_file.name, "sha256": digest.hexdigest(), "rows": rows}],
    }
    (out_file.parent / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n",
                                                    encoding="utf-8")
    if progress:
        print_summary(manifest)
    return manifest


def build_sft_stage(name: str, mixture: Mapping[str, int], sources: Mapping[str, Sequence[Mapping[str, Any]]],
                    out_dir: Path, *, style: str = "cm", profile: str = "default", seed: int, strict: bool = True,
                    progress: bool = False) -> dict[str, Any]:
    """Write ``<out_dir>/<name>.jsonl`` (alpaca rows: instruction, output, id), ``dataset_info.json`` with one
    entry ``name`` and ``manifest.json``; ``mixture`` gives the exact count per task. Returns the manifest."""
    get_profile(profile)
    out_dir = Path(out_dir)

    def row(rec: dict[str, Any], _: int) -> dict[str, Any]:
        return {"instruction": render_prompt(rec, style, profile), "output": render_target(rec, style, profile),
                "id": rec["id"]}

    manifest = _build("sft", name, mixture, sources, out_dir / f"{name}.jsonl", row,
                      {"style": style, "profile": profile}, seed, strict, progress)
    info = {name: {"file_name": f"{name}.jsonl", "formatting": "alpaca", "columns": SFT_COLUMNS}}
    (out_dir / "dataset_info.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return manifest


def build_grpo_stage(name: str, task: str, count: int, sources: Mapping[str, Sequence[Mapping[str, Any]]],
                     out_dir: Path, *, style: str = "sa", profile: str = "default", seed: int, strict: bool = True,
                     progress: bool = False) -> dict[str, Any]:
    """Write ``<out_dir>/train.jsonl`` for GRPO (EasyR1 / verl / TRL) and ``manifest.json``; returns the manifest.

    Columns: ``prompt`` (== the SFT instruction of the same record, style and profile; DE follows SA, so
    ``style`` defaults to ``"sa"``), ``answer`` (the canonical record as a JSON string), and verl's
    ``data_source`` (dataset name), ``reward_model`` ({"style": "rule", "ground_truth": answer}) and
    ``extra_info`` ({"id", "index", "task"}). No ``images``/``videos`` columns: their mere presence sends
    EasyR1 down its multimodal path.
    """
    get_profile(profile)

    def row(rec: dict[str, Any], index: int) -> dict[str, Any]:
        answer = json.dumps(rec, ensure_ascii=False)
        return {"prompt": render_prompt(rec, style, profile), "answer": answer, "data_source": rec["dataset"],
                "reward_model": {"style": "rule", "ground_truth": answer},
                "extra_info": {"id": rec["id"], "index": index, "task": rec["task"]}}

    return _build("grpo", name, {task: count}, sources, Path(out_dir) / "train.jsonl", row,
                  {"task": task, "style": style, "profile": profile}, seed, strict, progress)


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int, desc: str, enabled: bool) -> Any:
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="rec", file=sys.stderr)


def print_summary(manifest: Mapping[str, Any]) -> None:
    """A table of what went into a stage (per task and dataset/split), printed to stderr."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"stage {manifest['stage']} ({manifest['kind']}, seed {manifest['seed']}, "
                        f"{manifest['rows']} rows)")
    for col in ("task", "dataset/split", "rows", "pool", "oversampled"):
        table.add_column(col)
    for task, info in manifest["tasks"].items():
        for key, n in info["counts"].items():
            table.add_row(task, key, str(n), str(info["pool"]), "yes" if info["oversampled"] else "")
    Console(file=sys.stderr).print(table)
    if manifest["skipped_count"]:
        Console(file=sys.stderr).print(f"[yellow]{manifest['skipped_count']} malformed rows skipped (see manifest)")
