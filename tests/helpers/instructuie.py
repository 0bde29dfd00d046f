"""InstructUIE's own code for the differential tests: its evaluator, ``calculate_f1`` and loader, imported from its
source (``upstream_input("instructuie")``, never copied), and its gold instances of real-layout files."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import SimpleNamespace

from tests.helpers.inputs import upstream_input


def load_instructuie() -> SimpleNamespace:
    """``root`` (the checkout), ``evaluator``, ``calculate_f1`` and ``uie_dataset`` of InstructUIE; skips the
    calling test where its source is absent (``tests/helpers/inputs.py``)."""
    root = upstream_input("instructuie")
    src = root / "src"
    sys.path.insert(0, str(src))
    try:
        return SimpleNamespace(root=root, evaluator=importlib.import_module("evaluation.evaluator"),
                               calculate_f1=importlib.import_module("calculate_f1").calculate_f1,
                               uie_dataset=importlib.import_module("uie_dataset"))
    finally:
        sys.path.remove(str(src))


def instructuie_instances(upstream: SimpleNamespace, root: Path, sets: list[tuple[str, str, str]], cache: Path
                          ) -> dict[tuple[str, str, str], list[dict]]:
    """InstructUIE's own test instances (its loader on the files under ``root``), by (task folder, dataset, split)
    for each of ``sets``; an instance's ``Instance.ground_truth`` is the gold answer its evaluator compares."""
    builder = upstream.uie_dataset.UIEInstructions(cache_dir=str(cache))
    builder.config = upstream.uie_dataset.UIEConfig(
        name="differential", instruction_file=str(upstream.root / "configs" / "instruction_config.json"),
        instruction_strategy="single")
    out: dict[tuple[str, str, str], list[dict]] = {}
    for task, dataset, split in sets:
        config = {task: [{"sampling strategy": "full", "dataset name": dataset}]}
        out[(task, dataset, split)] = [ex for _, ex in builder._generate_examples(path=str(root), task_config=config,
                                                                                  subset=split)]
    return out
