"""The GPU check's run, on the GPU machine: the smoke recipe's SFT stages, one DE stage and eval on CUDA, timed.

Uses the Python that is there (``python3``: torch, transformers, accelerate, ...) plus the carried wheels
(``.gpu-wheels/``, ``gpu_wheels.txt``), installed with ``pip --no-index --no-deps`` into a folder of their own that
goes first on ``PYTHONPATH``. Then, each phase timed:

1. ``environment``: the versions the run uses and the device;
2. ``tiny_model``: the smoke model built there (``python -m launch.models.tiny``);
3. ``pipeline``: ``+experiment=smoke`` with the stages' sizes unchanged, on one GPU in bf16 (``CUDA_OVERRIDES``):
   cm_ner -> cm_ner_re -> cm_all -> sa with LLaMA-Factory, de_ner with TRL, then eval of the final model with the
   transformers backend (de_re and de_ee are left out: one DE stage shows the engine);
4. ``decode``: the eval stage's decoding on its own (``gpu_decode.py``).

LLaMA-Factory 0.9.5 checks at import that transformers is <= 5.6.0; the machine has 5.17.0. The check sets
``DISABLE_VERSION_CHECK=1`` (LLaMA-Factory's own switch) for this run only, and records it in the JSON.
Everything must end within ``--limit-s`` (6 minutes); what finished is reported either way. Writes
``gpu_check.json`` and ``gpu_check.log`` into ``--out``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from gpu_plan import REPO_ROOT, WHEEL_DIR, WHEELS_FILE, inventory, read_pins

sys.path.insert(0, str(REPO_ROOT))
from launch.run_dir import read_json  # noqa: E402  (standard library only: runs before the carried wheels)

LIMIT_S = 360
RUN_DIR = REPO_ROOT / "runs" / "gpu_check"
DECODE_RESERVE_S = 45  # kept back from the pipeline's share of the limit for the decoding measurement
CUDA_OVERRIDES = ("cluster.gpus_per_node=1", "sft.args.use_cpu=false", "+sft.args.bf16=true",
                  "grpo.args.use_cpu=false", "grpo.args.bf16=true")
# transformers 5.17 (the machine's) has no TrainingArguments.warmup_ratio any more; 5.6 maps it to warmup_steps.
# The smoke recipe's warmup_ratio is 0.0, the same as warmup_steps' default: the key is dropped.
COMMON_OVERRIDES = ("~sft.args.warmup_ratio", "+sft.args.include_effective_tokens_per_second=true",
                    "pipeline.skip=[de_re,de_ee]", "pipeline.eval.models=[final]")
RUN_ENV = {"DISABLE_VERSION_CHECK": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}
VERSIONS = ("torch", "transformers", "accelerate", "peft", "tokenizers", "safetensors", "huggingface-hub",
            "llamafactory", "trl", "datasets", "fsspec", "pyarrow", "pandas", "numpy", "hydra-core", "omegaconf")
ENVIRONMENT_SNIPPET = """
import json, platform, sys
from importlib import metadata
import torch
names = json.loads(sys.argv[1])
versions = {}
for n in names:
    try:
        versions[n] = metadata.version(n)
    except metadata.PackageNotFoundError:
        versions[n] = None
cuda = torch.cuda.is_available()
print(json.dumps({"python": platform.python_version(), "executable": sys.executable, "versions": versions,
                  "cuda": torch.version.cuda, "device": torch.cuda.get_device_name(0) if cuda else "cpu",
                  "gpus": torch.cuda.device_count() if cuda else 0}))
"""


class Log:
    """Lines to the terminal and to gpu_check.log at once."""

    def __init__(self, file: TextIO) -> None:
        self.file = file

    def __call__(self, line: str) -> None:
        print(line, flush=True)
        self.file.write(line + "\n")
        self.file.flush()


def overrides(device: str, run_dir: Path, extra: Sequence[str] = ()) -> list[str]:
    """The smoke recipe's command-line overrides for this check (the stages' sizes stay the recipe's)."""
    return ["+experiment=smoke", *(CUDA_OVERRIDES if device == "cuda" else ()), *COMMON_OVERRIDES,
            f"pipeline.run_dir={run_dir}", *extra]


def run_env(site: Path | None, cache: Path) -> dict[str, str]:
    """The run's environment: the carried wheels' folder first, the repository next, offline, version check off."""
    paths = [str(p) for p in (site, REPO_ROOT) if p is not None]
    env = {**os.environ, **RUN_ENV, "PROUIE_CACHE": str(cache),
           "PYTHONPATH": os.pathsep.join([*paths, *filter(None, [os.environ.get("PYTHONPATH")])])}
    if site is not None:
        env["PATH"] = os.pathsep.join([str(site / "bin"), os.environ.get("PATH", "")])
    return env


def run_command(argv: Sequence[str], env: Mapping[str, str], log: Log, timeout: float | None = None
                ) -> tuple[int, str, float]:
    """Run one command in its own process group, streaming its output into the log; returns (exit code, output,
    seconds). Past ``timeout`` the whole group is stopped and the code is 124, as timeout(1) says."""
    start = time.monotonic()
    log(f"$ {' '.join(argv)}")
    proc = subprocess.Popen(list(argv), cwd=REPO_ROOT, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, text=True, errors="replace", start_new_session=True)
    stopped = threading.Event()
    timer = threading.Timer(max(timeout, 0), _stop_group, [proc, stopped]) if timeout is not None else None
    if timer is not None:
        timer.start()
    lines = []
    for line in proc.stdout:
        lines.append(line)
        log(line.rstrip("\n"))
    code = proc.wait()
    if timer is not None:
        timer.cancel()
    return (124 if stopped.is_set() else code), "".join(lines), time.monotonic() - start


def _stop_group(proc: subprocess.Popen, stopped: threading.Event) -> None:
    """SIGTERM to the command's process group, SIGKILL if it is still there 15 s later."""
    stopped.set()
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=15)
            return
        except subprocess.TimeoutExpired:
            continue
        except ProcessLookupError:
            return


def last_json(output: str) -> dict[str, Any] | None:
    """The JSON object a helper printed last, or None."""
    for line in reversed(output.strip().splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def finished_stages(run_dir: Path) -> list[dict[str, Any]]:
    """The results of every stage with a DONE marker, in the order they finished (also after a failed run)."""
    done = [(m.get("finished", 0), m["results"]) for m in (read_json(p) for p in run_dir.glob("*/DONE")) if m]
    return [results for _, results in sorted(done, key=lambda pair: pair[0])]


def sft_rate(stage_dir: Path) -> dict[str, Any]:
    """LLaMA-Factory's throughput of one SFT stage (all_results.json: effective tokens/s, samples/s, runtime)."""
    metrics = read_json(stage_dir / "output" / "all_results.json") or {}
    tokens = metrics.get("effective_tokens_per_sec")
    return {"tokens_per_s": round(tokens, 1) if tokens is not None else None,
            "samples_per_s": metrics.get("train_samples_per_second"), "train_runtime_s": metrics.get("train_runtime")}


def grpo_rate(stage_dir: Path, samples: int) -> dict[str, Any]:
    """Completions per second of one TRL stage: prompts x epochs x rollouts over the Trainer's train_runtime."""
    import yaml

    config = yaml.safe_load((stage_dir / "config.yaml").read_text(encoding="utf-8"))["trainer"]
    state = read_json(stage_dir / "output" / "trainer_state.json") or {}
    runtime = next((e["train_runtime"] for e in reversed(state.get("log_history", [])) if "train_runtime" in e), None)
    completions = int(samples * float(config["num_train_epochs"]) * int(config["num_generations"]))
    return {"completions": completions, "train_runtime_s": runtime,
            "completions_per_s": round(completions / runtime, 2) if runtime else None}


def stage_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """Per finished stage: wall time, the backend's share, and the throughput of its kind."""
    rows = []
    for results in finished_stages(run_dir):
        name, engine = results["stage"], results.get("engine")
        row = {"stage": name, "engine": engine, "seconds": results.get("seconds"),
               "backend_seconds": results.get("backend_seconds"), "samples": results.get("samples")}
        if engine == "llamafactory":
            row.update(sft_rate(run_dir / name), final_loss=results.get("final_loss"))
        elif engine == "trl":
            row.update(grpo_rate(run_dir / name, int(results.get("samples") or 0)),
                       mean_reward=results.get("mean_reward"))
        elif engine == "eval":
            row["averages"] = results.get("averages")
        rows.append(row)
    return rows


def table(report: Mapping[str, Any]) -> list[str]:
    """The lines printed last: phases, stages with their throughput, the decoding rate."""
    lines = [f"GPU check: {report['status']} in {report['seconds']:.0f} s (limit {report['limit_s']} s) on "
             f"{(report.get('environment') or {}).get('device', '?')}"]
    lines += [f"  {name:<12} {seconds:7.1f} s" for name, seconds in report["phases"].items()]
    for row in report["stages"]:
        rate = ""
        if row.get("tokens_per_s") is not None:
            rate = f"SFT {row['tokens_per_s']:.0f} tokens/s"
        elif row.get("completions_per_s") is not None:
            rate = f"GRPO {row['completions_per_s']:.2f} completions/s"
        lines.append(f"  {row['stage']:<12} {row['seconds'] or 0:7.1f} s  {rate}")
    decode = report.get("decode") or {}
    if decode.get("tokens_per_s") is not None:
        lines.append(f"  {'decoding':<12} {decode['tokens_per_s']:7.0f} tokens/s ({decode['tokens']} tokens, batch "
                     f"{decode['batch_size']}, {decode['device']})")
    return lines


def install_wheels(folder: Path, site: Path, log: Log) -> tuple[int, float]:
    """pip install the carried wheels, no index, no dependencies, into ``site``; refuses a folder that does not
    match the list (a missing wheel, a second version)."""
    found = inventory(folder, read_pins(WHEELS_FILE))
    if found.missing or found.unexpected:
        log(f"ERROR: {folder} does not match {WHEELS_FILE.name}: missing {found.missing}, not listed "
            f"{found.unexpected} (run `make gpu-wheels` on the CPU machine)")
        return 2, 0.0
    wheels = [str(folder / name) for name in found.files.values()]
    code, _, seconds = run_command([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps",
                                    "--no-compile", "--no-cache-dir", "--upgrade", "--target", str(site), *wheels],
                                   os.environ, log)
    return code, seconds


def run_check(out: Path, device: str = "cuda", limit_s: float = LIMIT_S, wheels: Path | None = WHEEL_DIR,
              extra: Sequence[str] = (), run_dir: Path = RUN_DIR) -> int:
    """The whole check; writes gpu_check.json and gpu_check.log into ``out``; 0 when every phase passed in time.
    The installed wheels and the model cache live in a temporary folder, removed at the end."""
    work = Path(tempfile.mkdtemp(prefix="prouie-gpu-check-"))
    try:
        return _check(out, work, run_dir, device, limit_s, wheels, extra)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _check(out: Path, work: Path, run_dir: Path, device: str, limit_s: float, wheels: Path | None,
           extra: Sequence[str]) -> int:
    out.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    shutil.rmtree(run_dir, ignore_errors=True)  # every stage runs: nothing cached from an earlier check
    report: dict[str, Any] = {"device_kind": device, "limit_s": limit_s, "run_dir": str(run_dir),
                              "version_check": "LLaMA-Factory's DISABLE_VERSION_CHECK=1 for this run only",
                              "phases": {}, "stages": [], "status": "failed"}
    with open(out / "gpu_check.log", "w", encoding="utf-8") as file:
        log = Log(file)
        site = None
        if wheels is not None:
            site = work / "site"
            code, report["phases"]["install"] = install_wheels(wheels, site, log)
            if code:
                return _finish(report, out, start, log, f"installing the wheels failed (exit {code})")
        env = run_env(site, work / "cache")
        code, output, report["phases"]["environment"] = run_command(
            [sys.executable, "-c", ENVIRONMENT_SNIPPET, json.dumps(VERSIONS)], env, log)
        report["environment"] = last_json(output)
        if code:
            return _finish(report, out, start, log, f"this Python's torch does not import (exit {code})")
        if device == "cuda" and not (report["environment"] or {}).get("gpus"):
            return _finish(report, out, start, log, "no CUDA device in this Python (torch.cuda.is_available())")
        code, _, report["phases"]["tiny_model"] = run_command([sys.executable, "-m", "launch.models.tiny"], env, log)
        if code:
            return _finish(report, out, start, log, f"building the tiny model failed (exit {code})")
        report["overrides"] = overrides(device, run_dir, extra)
        left = limit_s - (time.monotonic() - start) - DECODE_RESERVE_S
        code, _, report["phases"]["pipeline"] = run_command(
            [sys.executable, "launch/run_pipeline.py", *report["overrides"]], env, log, timeout=left)
        report["stages"] = stage_metrics(run_dir)
        if code:
            what = "the pipeline ran past the time limit" if code == 124 else f"the pipeline failed (exit {code})"
            return _finish(report, out, start, log, what)
        left = limit_s - (time.monotonic() - start)
        code, output, report["phases"]["decode"] = run_command(
            [sys.executable, "scripts/gpu_decode.py", str(run_dir / "eval" / "config.yaml"), "--device", device],
            env, log, timeout=max(left, 1))
        report["decode"] = last_json(output)
        if code:
            return _finish(report, out, start, log, f"the decoding measurement failed (exit {code})")
        within = time.monotonic() - start <= limit_s
        return _finish(report, out, start, log, None if within else "over the time limit")


def _finish(report: dict[str, Any], out: Path, start: float, log: Log, error: str | None) -> int:
    report["seconds"] = round(time.monotonic() - start, 1)
    report["phases"] = {k: round(v, 1) for k, v in report["phases"].items()}
    report["status"], report["error"] = ("ok", None) if error is None else ("failed", error)
    (out / "gpu_check.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    for line in table(report):
        log(line)
    if error:
        log(f"ERROR: {error}")
    return 0 if error is None else 1
