"""Stage data builders: exact, seeded task mixtures written as LLaMA-Factory (SFT) or GRPO datasets + manifest.

Both builders take plain mappings (they come from Hydra configs). ``sources`` maps a task to a list of reader
specs; a spec is either ``{"bundled": "ncbi", "split": "train"}`` (with ``"root": <folder>``: the same file of
the source's original download, recipes/data/originals.yaml) or a full ``read_source`` spec.

Sampling (one recorded seed per stage): per task, records of all its sources are pooled (in source order)
and exactly ``count`` are drawn uniformly without replacement, with ``random.Random(f"{seed}/{task}")`` so a
task's draw does not depend on the other tasks. Only when the pool is smaller than the count is it
oversampled: every record ``count // pool`` times plus a without-replacement draw of the remainder; this is
flagged in the manifest and logged as a warning.

Each source record is read, validated and rendered once, into a spool file (in a temporary folder inside the
output folder, removed at the end) while the pool is counted; the draw then streams the spool with selection
sampling (Knuth's Algorithm S), which picks exactly the wanted number in pool order with O(1) memory. A task
that takes its whole pool once is copied in blocks, or, when it is the stage's only task, renamed into place.
The spool needs as much free disk as the rows of every pooled record (drawing 45k of an 845k-record pool
renders all 845k, which takes about as long as reading the pool twice would).
Rows are written grouped by task in mixture order, each group in pool order; the trainers shuffle
(LLaMA-Factory's sampler, EasyR1's ``data.shuffle``).

Every build writes ``manifest.json``: the resolved source specs with file hashes, pool sizes, counts per
task / dataset / split, seed, style, profile, oversampling, malformed rows skipped (non-strict) with their
locations, every documented reader rule applied (``anomalies``: task, dataset, split, reason, action kept /
repaired / dropped, count, first locations, effect on scores), the label set of every dataset (``labels``: what
the model is asked, which an evaluation compares with a benchmark's), and the output files' hashes and row counts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator, Mapping, Sequence

from converters.bundled import bundled_spec
from converters.format import get_profile, prompt_parts, render_prompt, render_target
from converters.jsonenc import encode_joined, encode_str, value_json
from converters.readers import ReadLog, read_source, source_files

log = logging.getLogger(__name__)

SFT_COLUMNS = {"prompt": "instruction", "response": "output"}
MANIFEST = "manifest.json"  # beside every stage dataset: what was built from what (read by launch.plan and eval)
PROMPT_FORMATS = ("text", "messages")  # GRPO prompt column: a plain string, or one user turn of chat messages
_BLOCK = 1 << 20  # I/O buffer of spools and outputs


def resolve_spec(spec: Mapping[str, Any], strict: bool = True) -> dict[str, Any]:
    """A full ``read_source`` spec: bundled shortcuts expanded; the stage's ``strict`` unless the spec sets it."""
    if "bundled" in spec:
        full = bundled_spec(spec["bundled"], spec.get("split", "train"), spec.get("root"))
        full.update({k: v for k, v in spec.items() if k not in ("bundled", "split", "root")})
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


def draw_copies(pool: int, count: int, rng: random.Random) -> Iterator[int]:
    """How many times each of ``pool`` records (in order) goes into a draw of exactly ``count``.

    Every record ``count // pool`` times, plus ``count % pool`` records picked uniformly without replacement by
    selection sampling (Knuth's Algorithm S: pick with probability still-wanted / still-unseen), in one pass
    and O(1) memory.
    """
    repeats, rest = divmod(count, pool) if pool else (0, 0)
    for seen in range(pool):
        if rest and rng.random() * (pool - seen) < rest:
            rest -= 1
            yield repeats + 1
        else:
            yield repeats


class _TaskDraw:
    """The exact, seeded draw of ``count`` records of one task from its pooled sources."""

    def __init__(self, task: str, count: int, specs: Sequence[Mapping[str, Any]], seed: int, strict: bool) -> None:
        if count < 0:
            raise ValueError(f"task {task!r}: count must be >= 0, got {count}")
        self.task, self.count, self.seed = task, count, seed
        self.specs = [resolve_spec(s, strict) for s in specs]
        if not self.specs:
            raise ValueError(f"task {task!r}: no sources given")
        self.logs = [ReadLog() for _ in self.specs]
        self.pools = [0] * len(self.specs)
        self.runs: list[list[Any]] = []  # [(dataset, split), number of consecutive spooled rows]

    def spool(self, row: Callable[[dict[str, Any], int], str], path: Path, bar: Any) -> None:
        """Read every source once, writing one row line per record (``row(record, pool index)``) to ``path``;
        an empty pool for a non-zero count is an error, a pool smaller than the count a warning.

        Which (dataset, split) each line belongs to is kept as runs of equal keys: O(1) memory for the usual
        sources (one dataset per file), still exact for files that interleave datasets.
        """
        index, runs = 0, self.runs
        with open(path, "wb", buffering=_BLOCK) as spool:  # few large writes: syscalls are the cost here
            for i, spec in enumerate(self.specs):
                split, start = str(spec.get("split", "")), index
                for rec in read_source(spec, self.logs[i]):
                    if rec["task"] != self.task:
                        raise ValueError(f"source {spec!r} gave a {rec['task']!r} record {rec['id']!r} "
                                         f"for task {self.task!r}")
                    key = (rec["dataset"], split)
                    if runs and runs[-1][0] == key:
                        runs[-1][1] += 1
                    else:
                        runs.append([key, 1])
                    spool.write((row(rec, index) + "\n").encode())
                    index += 1
                    bar.update(1)
                self.pools[i] = index - start
        if self.count and not index:
            raise ValueError(f"task {self.task!r}: the sources hold no records, cannot draw {self.count}")
        if self.oversampled:
            log.warning("task %r: pool of %d records is smaller than the requested %d; oversampling (every "
                        "record %d times + %d drawn without replacement)", self.task, index, self.count,
                        self.count // index, self.count % index)

    @property
    def pool(self) -> int:
        """Records pooled from all sources (known once spooled)."""
        return sum(self.pools)

    @property
    def oversampled(self) -> bool:
        """The pool is smaller than the count."""
        return self.count > self.pool

    @property
    def takes_all(self) -> bool:
        """Every pooled record exactly once: the spool already is this task's output."""
        return self.count == self.pool

    def pool_counts(self) -> Counter:
        """Records per (dataset, split) in the whole pool."""
        counts: Counter = Counter()
        for key, n in self.runs:
            counts[key] += n
        return counts

    def emit(self, path: Path, out: BinaryIO) -> Counter:
        """Append the drawn rows of the spool at ``path`` (oversampled ones repeated) to ``out``, in pool order;
        returns rows per (dataset, split)."""
        with open(path, "rb") as spool:
            if self.takes_all:
                shutil.copyfileobj(spool, out, _BLOCK)
                return self.pool_counts()
            runs, key, left = iter(self.runs), None, 0
            counts: Counter = Counter()
            copies_of = draw_copies(self.pool, self.count, random.Random(f"{self.seed}/{self.task}"))
            for line, copies in zip(spool, copies_of):
                if not left:
                    key, left = next(runs)
                left -= 1
                if copies:
                    counts[key] += copies
                    out.write(line * copies)
        return counts

    def anomalies(self) -> list[dict[str, Any]]:
        """Every documented reader rule applied, per source (dataset and split): what, how often, effect."""
        return [{"task": self.task, "dataset": spec.get("dataset", ""), "split": spec.get("split", ""),
                 "reason": reason, **note}
                for spec, read_log in zip(self.specs, self.logs)
                for reason, note in read_log.to_json()["notes"].items()]

    def labels(self) -> dict[str, Any]:
        """Dataset -> the label set its records carry (merged over splits): what a model trained here was asked."""
        merged = ReadLog()
        for read_log in self.logs:
            for dataset, labels in read_log.labels.items():
                merged.see_labels(dataset, labels)
        return merged.labels

    def manifest(self, counts: Mapping[tuple[str, str], int]) -> dict[str, Any]:
        return {
            "requested": self.count,
            "pool": self.pool,
            "oversampled": self.oversampled,
            "repeats_of_every_record": self.count // self.pool if self.oversampled else 0,
            "counts": {f"{d}/{s}": n for (d, s), n in sorted(counts.items())},
            "sources": [
                {"spec": spec, "pool": pool,
                 "files": [{"path": str(p), "sha256": file_sha256(p)} for p in source_files(spec)],
                 "read": read_log.to_json()}
                for spec, pool, read_log in zip(self.specs, self.pools, self.logs)
            ],
        }


def _build(kind: str, name: str, plan: Mapping[str, int], sources: Mapping[str, Sequence[Mapping[str, Any]]],
           out_file: Path, row: Callable[[dict[str, Any], int], str], settings: dict[str, Any],
           seed: int, strict: bool, progress: bool) -> dict[str, Any]:
    missing = [t for t in plan if t not in sources]
    if missing:
        raise ValueError(f"stage {name!r}: no sources for task(s) {missing}; sources has {sorted(sources)}")
    draws = [_TaskDraw(task, int(count), sources[task], seed, strict) for task, count in plan.items()]
    out_file.parent.mkdir(parents=True, exist_ok=True)
    bar = _progress_bar(f"{kind} {name}: records read", progress)
    with tempfile.TemporaryDirectory(prefix=".spool-", dir=out_file.parent) as tmp:
        rows_file = out_file if out_file.suffix == ".jsonl" else Path(tmp) / "rows.jsonl"
        spools = [Path(tmp) / f"{i}.jsonl" for i in range(len(draws))]
        for draw, spool in zip(draws, spools):
            draw.spool(row, spool, bar)
        if len(draws) == 1 and draws[0].takes_all:  # e.g. CM phase 1: the whole NER pool, once
            os.replace(spools[0], rows_file)
            counts = [draws[0].pool_counts()]
        else:
            with open(rows_file, "wb", buffering=_BLOCK) as out:
                counts = [draw.emit(spool, out) for draw, spool in zip(draws, spools)]
        if rows_file != out_file:
            _jsonl_to_parquet(rows_file, out_file)
    bar.close()
    tasks = {draw.task: draw.manifest(c) for draw, c in zip(draws, counts)}
    rows = sum(draw.count for draw in draws)
    skipped = [s for d in draws for lg in d.logs for s in lg.skipped]
    manifest = {
        "stage": name, "kind": kind, "seed": seed, "strict": strict, **settings,
        "tasks": tasks, "rows": rows,
        "oversampled_tasks": [d.task for d in draws if d.oversampled],
        "skipped_count": len(skipped), "skipped": skipped,
        "anomalies": [a for d in draws for a in d.anomalies()],
        "labels": {d.task: d.labels() for d in draws},
        "outputs": [{"file": out_file.name, "sha256": file_sha256(out_file), "rows": rows}],
    }
    (out_file.parent / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n",
                                                    encoding="utf-8")
    if progress:
        print_summary(manifest)
    return manifest


def _jsonl_to_parquet(src: Path, dst: Path) -> None:
    """Stream JSONL rows into one Parquet file (nested objects become struct columns, as verl's examples have)."""
    import pyarrow.json as pa_json
    import pyarrow.parquet as pq

    reader = pa_json.open_json(src, read_options=pa_json.ReadOptions(block_size=_BLOCK * 16))
    with pq.ParquetWriter(dst, reader.schema) as writer:
        for batch in reader:
            writer.write_batch(batch)


def build_sft_stage(name: str, mixture: Mapping[str, int], sources: Mapping[str, Sequence[Mapping[str, Any]]],
                    out_dir: Path, *, style: str = "cm", profile: str = "default", seed: int, strict: bool = True,
                    progress: bool = False) -> dict[str, Any]:
    """Write ``<out_dir>/<name>.jsonl`` (alpaca rows: instruction, output, id), ``dataset_info.json`` with one
    entry ``name`` and ``manifest.json``; ``mixture`` gives the exact count per task. Returns the manifest."""
    get_profile(profile)
    out_dir = Path(out_dir)

    def row(rec: dict[str, Any], _: int) -> str:  # == json.dumps({"instruction", "output", "id"}, ensure_ascii=False)
        return ('{"instruction": ' + encode_joined(*prompt_parts(rec, style, profile))
                + ', "output": ' + encode_str(render_target(rec, style, profile))
                + ', "id": ' + value_json(rec["id"]) + "}")

    manifest = _build("sft", name, mixture, sources, out_dir / f"{name}.jsonl", row,
                      {"style": style, "profile": profile}, seed, strict, progress)
    info = {name: {"file_name": f"{name}.jsonl", "formatting": "alpaca", "columns": SFT_COLUMNS}}
    (out_dir / "dataset_info.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return manifest


def build_grpo_stage(name: str, task: str, count: int, sources: Mapping[str, Sequence[Mapping[str, Any]]],
                     out_dir: Path, *, style: str = "sa", profile: str = "default", seed: int, strict: bool = True,
                     progress: bool = False, file_format: str = "jsonl", prompt_format: str = "text") -> dict[str, Any]:
    """Write ``<out_dir>/train.jsonl`` (or ``train.parquet`` with ``file_format="parquet"``, the format of verl's
    examples) for GRPO (EasyR1 / verl / TRL) and ``manifest.json``; returns the manifest.

    Columns: ``prompt`` (== the SFT instruction of the same record, style and profile; DE follows SA, so
    ``style`` defaults to ``"sa"``): the plain string with ``prompt_format="text"`` (EasyR1, TRL), or that string
    as one user turn ``[{"role": "user", "content": ...}]`` with ``prompt_format="messages"`` (verl's
    ``RLHFDataset`` tokenises the messages with the chat template; a plain string would be split into
    characters, and with ``filter_overlong_prompts`` every row dropped), ``answer`` (the canonical record as a
    JSON string), and verl's
    ``data_source`` (dataset name), ``reward_model`` ({"style": "rule", "ground_truth": answer}) and
    ``extra_info`` ({"id", "index", "task"}; ``index`` is the record's position in the task's pool, so
    oversampled copies share it). No ``images``/``videos`` columns: their mere presence sends
    EasyR1 down its multimodal path.
    """
    get_profile(profile)
    if file_format not in ("jsonl", "parquet"):
        raise ValueError(f"build_grpo_stage: file_format must be 'jsonl' or 'parquet', got {file_format!r}")
    if prompt_format not in PROMPT_FORMATS:
        raise ValueError(f"build_grpo_stage: prompt_format must be one of {PROMPT_FORMATS}, got {prompt_format!r}")

    def row(rec: dict[str, Any], index: int) -> str:
        answer = json.dumps(rec, ensure_ascii=False)
        prompt = render_prompt(rec, style, profile)
        return json.dumps({"prompt": [{"role": "user", "content": prompt}] if prompt_format == "messages" else prompt,
                           "answer": answer,
                           "data_source": rec["dataset"], "reward_model": {"style": "rule", "ground_truth": answer},
                           "extra_info": {"id": rec["id"], "index": index, "task": rec["task"]}}, ensure_ascii=False)

    return _build("grpo", name, {task: count}, sources, Path(out_dir) / f"train.{file_format}", row,
                  {"task": task, "style": style, "profile": profile, "prompt_format": prompt_format}, seed, strict,
                  progress)


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(desc: str, enabled: bool) -> Any:
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(desc=desc, unit="rec", file=sys.stderr)


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
    console = Console(file=sys.stderr)
    console.print(table)
    if manifest["anomalies"]:
        notes = Table(title="data anomalies handled by documented rules (manifest.json: anomalies)")
        for col in ("dataset/split", "action", "count", "reason"):
            notes.add_column(col)
        for a in manifest["anomalies"]:
            notes.add_row(f"{a['dataset']}/{a['split']}", a["action"], str(a["count"]), a["reason"])
        console.print(notes)
    if manifest["skipped_count"]:
        console.print(f"[yellow]{manifest['skipped_count']} malformed rows skipped (see manifest)")
