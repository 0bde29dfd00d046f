"""Prediction files: our resumable JSONL and LLaMA-Factory's ``generated_predictions.jsonl``, aligned to gold.

Our file has one JSON object per line, ``{"id", "dataset", "prediction", "n_tokens"}``, in any order; rows are
matched to gold records by ``id``. LLaMA-Factory's file (``do_predict`` or ``scripts/vllm_infer.py``) has
``{"prompt", "predict", "label"}`` rows in the order of the evaluation data; they are matched by position and
each row is checked against its gold record (the prompt holds the record's text, the label is its target).
Every problem raises ``PredictionFileError`` naming the file and the line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from converters.format import render_target

Record = Mapping[str, Any]


class PredictionFileError(ValueError):
    """A malformed or misaligned prediction file; the message names the file and the line."""

    def __init__(self, path: str | Path, line: int | None, message: str) -> None:
        self.path, self.line = str(path), line
        super().__init__(f"{path}{'' if line is None else f':{line}'}: {message}")


def read_jsonl(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line; a line that is not a JSON object raises."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise PredictionFileError(path, lineno, f"broken JSON line ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise PredictionFileError(path, lineno, f"expected a JSON object, got {type(obj).__name__}")
            rows.append((lineno, obj))
    return rows


def _field(path: str | Path, lineno: int, row: Mapping[str, Any], key: str) -> Any:
    if key not in row:
        raise PredictionFileError(path, lineno, f"missing field {key!r}")
    return row[key]


def load_predictions(path: str | Path, gold_records: Sequence[Record]) -> list[dict[str, Any]]:
    """Our prediction rows in the order of ``gold_records``; missing, extra or duplicate ids raise."""
    by_id: dict[str, tuple[int, dict[str, Any]]] = {}
    gold_ids = {str(r["id"]) for r in gold_records}
    for lineno, row in read_jsonl(path):
        rid = str(_field(path, lineno, row, "id"))
        if not isinstance(_field(path, lineno, row, "prediction"), str):
            raise PredictionFileError(path, lineno, "field 'prediction' must be a string")
        if rid in by_id:
            raise PredictionFileError(path, lineno, f"id {rid!r} already predicted on line {by_id[rid][0]}")
        if rid not in gold_ids:
            raise PredictionFileError(path, lineno, f"extra row: id {rid!r} is not in the gold data")
        by_id[rid] = (lineno, row)
    missing = [str(r["id"]) for r in gold_records if str(r["id"]) not in by_id]
    if missing:
        shown = ", ".join(repr(m) for m in missing[:5])
        raise PredictionFileError(path, None, f"missing rows: {len(missing)} gold record(s) have no prediction "
                                              f"(ids {shown}{', ...' if len(missing) > 5 else ''})")
    return [by_id[str(r["id"])][1] for r in gold_records]


def _clean_label(label: str, stops: Sequence[str]) -> str:
    """A label without the end-of-turn token LLaMA-Factory leaves on it when that token is not special."""
    label = label.strip()
    for stop in stops:
        if stop and label.endswith(stop):
            return label[: -len(stop)].strip()
    return label


def load_llamafactory_predictions(path: str | Path, gold_records: Sequence[Record], style: str = "cm",
                                  profile: str = "default", stops: Sequence[str] = ()) -> list[dict[str, Any]]:
    """LLaMA-Factory's ``generated_predictions.jsonl`` as our rows, aligned with ``gold_records`` by position.

    Each row must hold its record's text in ``prompt`` and, when ``label`` is non-empty, the record's
    ``render_target(style, profile)`` as label (stripped, and without a trailing stop token of the template,
    ``stops``); otherwise the file belongs to other data or was generated in another order, and the error names
    the first line that disagrees.
    """
    rows = read_jsonl(path)
    if len(rows) != len(gold_records):
        raise PredictionFileError(path, None, f"{len(rows)} rows for {len(gold_records)} gold records "
                                              "(LLaMA-Factory rows are matched to gold records by position)")
    out = []
    for (lineno, row), record in zip(rows, gold_records):
        prompt, predict = _field(path, lineno, row, "prompt"), _field(path, lineno, row, "predict")
        if not isinstance(predict, str) or not isinstance(prompt, str):
            raise PredictionFileError(path, lineno, "fields 'prompt' and 'predict' must be strings")
        if record["text"] not in prompt:
            raise PredictionFileError(path, lineno, f"prompt does not contain the text of gold record "
                                                    f"{record['id']!r}; rows are out of order or from other data")
        label = row.get("label") or ""
        if label and _clean_label(label, stops) != render_target(record, style, profile):
            raise PredictionFileError(path, lineno, f"label differs from the target of gold record {record['id']!r}"
                                                    f" (style {style!r}, profile {profile!r})")
        out.append({"id": record["id"], "dataset": record.get("dataset"), "prediction": predict})
    return out


def resume_rows(path: str | Path) -> list[dict[str, Any]]:
    """Rows already written to a prediction file being filled in, so that they are not predicted again.

    A broken last line is what an interrupted run leaves: it is cut off the file and its row is predicted
    again. A broken line anywhere else is a damaged file and raises.
    """
    path = Path(path)
    if not path.exists():
        return []
    data = path.read_bytes()
    lines = data.split(b"\n")
    rows, offset = [], 0
    for i, raw in enumerate(lines):
        if raw.strip():
            try:
                obj = json.loads(raw)
                if not isinstance(obj, dict) or "id" not in obj or "prediction" not in obj:
                    raise ValueError("not a prediction row")
                complete = i < len(lines) - 1  # a row without its newline was cut during writing
            except ValueError:
                obj, complete = None, False
            if not complete:
                if i < len(lines) - 1 and any(x.strip() for x in lines[i + 1:]):
                    raise PredictionFileError(path, i + 1, "broken prediction row in the middle of the file")
                with open(path, "r+b") as f:
                    f.truncate(offset)
                break
            rows.append(obj)
        offset += len(raw) + 1
    return rows


def append_rows(path: str | Path, rows: Iterable[Mapping[str, Any]]) -> None:
    """Append rows, one JSON line each, flushed so that an interruption loses at most the line being written."""
    with open(path, "a", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
        f.flush()
