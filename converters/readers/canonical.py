"""Reader for records already in the canonical shape (``converters.records``), one JSON object per line.

This is how users bring their own schema: any slot names, e.g. the production query-understanding slots of
the paper's Appendix A.5 are NER-style records (``task: "ner"``, ``labels`` = slot names, ``entities`` =
slot values). Every row is checked with ``validate_record`` (mentions must be substrings of ``text``, types
must be among ``labels``). Spec keys: ``path``, optional ``dataset`` / ``task`` (fill in rows that lack them;
a row that has a different ``task`` than the spec is an error).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Mapping

from converters.readers.source import ReadLog, guarded, iter_jsonl, need, spec_path
from converters.records import validate_record


def source_files(spec: Mapping[str, Any]) -> list[Path]:
    return [spec_path(spec)]


def read(spec: Mapping[str, Any], read_log: ReadLog) -> Iterator[dict[str, Any]]:
    """Validated canonical records of one JSONL file."""
    path = spec_path(spec)
    dataset, task = spec.get("dataset"), spec.get("task")

    def convert(where: str, row: Any) -> dict[str, Any]:
        if isinstance(row, dict):
            if dataset is not None:
                row.setdefault("dataset", dataset)
            if task is not None:
                row.setdefault("task", task)
                need(row["task"] == task, where, "task", f"expected {task!r} (source spec), got {row['task']!r}")
        return validate_record(row, where)

    return guarded(iter_jsonl(path), convert, bool(spec.get("strict", True)), read_log)
