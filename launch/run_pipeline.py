"""Run the ProUIE pipeline (CM -> SA -> DE -> eval) from a Hydra recipe.

    python launch/run_pipeline.py +experiment=smoke                             # CPU, minutes
    python launch/run_pipeline.py +experiment=prouie_4b pipeline.dry_run=true   # plan + validate, no GPU
    python launch/run_pipeline.py +experiment=prouie_4b pipeline.skip=[sa]      # ablation: w/o SA
    python launch/run_pipeline.py +experiment=mini +study=table5                # Table 5 as one study

This file only wires the composed config to the planner (launch/plan.py) and the driver (launch/driver.py).
Exit codes: 0 done, 1 a stage failed (the message names the stage, the file and the fix), 2 a config error or a
cluster that refuses us (address, token), 130 interrupted (rerun the same command to resume).
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402
from rich.console import Console  # noqa: E402

from launch.compose import precision_note, resolved_config  # noqa: E402
from launch.driver import execute_plan, print_dry_run, validate_plan  # noqa: E402
from launch.executors.local import make_executor  # noqa: E402
from launch.plan import build_plan  # noqa: E402
from launch.stage import StageFailed, recipe_settings  # noqa: E402
from launch.study import execute_study, plan_study  # noqa: E402
from launch.study import print_dry_run as print_study  # noqa: E402


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run(cfg: DictConfig, overrides: list[str] | None = None) -> int:
    """Plan and run the recipe (``+study=...``: each variant of the study); ``overrides`` are the command line's."""
    console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)
    try:
        plain = resolved_config(cfg)
        settings = recipe_settings(plain)
        if plain.get("study"):
            root, variants = plan_study([o for o in overrides or [] if not o.lstrip("+~").startswith("study=")],
                                        plain["study"])
        else:
            plan = build_plan(plain)
    except (ValueError, KeyError) as err:
        console.print(f"[red]config error:[/] {err}")
        return 2
    if note := precision_note(cfg):
        console.print(f"[yellow]note:[/] {note}", markup=True, highlight=False)
    try:
        if settings.pipeline.dry_run:
            if plain.get("study"):
                for variant in variants:
                    validate_plan(variant.plan, dry_run=True)
                print_study(root, variants, console)
            else:
                print_dry_run(plan, validate_plan(plan, dry_run=True), console)
            return 0
        try:
            executor = make_executor(plain["cluster"])  # contacts a cluster: a wrong address or token stops here
        except ValueError as err:
            console.print(f"[red]cluster error:[/] {err}")
            return 2
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            if plain.get("study"):
                execute_study(root, variants, executor, console, plain["study"])
                console.print((root / "study.md").read_text(encoding="utf-8"), markup=False)
            else:
                execute_plan(plan, executor, console)
        except KeyboardInterrupt:
            executor.cancel()
            console.print("[yellow]interrupted[/]: rerun the same command to resume")
            return 130
        finally:
            executor.close()
    except StageFailed as err:
        console.print(f"[red]error:[/] {err}")
        return 1
    return 0


@hydra.main(config_path="../recipes", config_name="config", version_base=None)
def main(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    sys.exit(run(cfg, list(HydraConfig.get().overrides.task)))


if __name__ == "__main__":
    main()
