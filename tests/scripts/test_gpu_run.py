"""The GPU check's run: its recipe overrides, environment, time limit and the numbers it reads from a run folder."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import gpu_run
import yaml
from gpu_plan import parse_pins
from gpu_rehearsal import overlay_pins


def write_json(path: Path, value: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value), encoding="utf-8")


def test_overrides_put_the_smoke_stages_on_one_gpu_in_bf16_and_keep_their_sizes(tmp_path):
    cuda = gpu_run.overrides("cuda", tmp_path / "run", ["pipeline.eval.limit=2"])
    assert cuda[0] == "+experiment=smoke" and cuda[-1] == "pipeline.eval.limit=2"
    assert {"cluster.gpus_per_node=1", "+sft.args.bf16=true", "grpo.args.bf16=true", "sft.args.use_cpu=false",
            "~sft.args.warmup_ratio", "pipeline.skip=[de_re,de_ee]", f"pipeline.run_dir={tmp_path / 'run'}",
            } <= set(cuda)
    assert not any("epochs" in o or "count" in o for o in cuda[:-1])
    cpu = gpu_run.overrides("cpu", tmp_path / "run")
    assert not any("bf16" in o or "gpus_per_node" in o for o in cpu) and "~sft.args.warmup_ratio" in cpu


def test_run_env_puts_the_carried_wheels_first_and_turns_the_version_check_off_for_the_run(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    monkeypatch.setenv("PATH", "/usr/bin")
    env = gpu_run.run_env(tmp_path / "site", tmp_path / "cache")
    assert env["PYTHONPATH"].split(":") == [str(tmp_path / "site"), str(gpu_run.REPO_ROOT), "/elsewhere"]
    assert env["PATH"] == f"{tmp_path / 'site' / 'bin'}:/usr/bin"
    assert (env["DISABLE_VERSION_CHECK"], env["HF_HUB_OFFLINE"]) == ("1", "1")
    assert env["PROUIE_CACHE"] == str(tmp_path / "cache")
    assert gpu_run.run_env(None, tmp_path)["PATH"] == "/usr/bin"


def test_run_command_streams_the_output_and_stops_the_whole_group_at_its_limit(tmp_path):
    log = gpu_run.Log(open(tmp_path / "log", "w", encoding="utf-8"))
    code, output, _ = gpu_run.run_command([sys.executable, "-c", "print('hello'); raise SystemExit(3)"], {}, log)
    assert (code, output) == (3, "hello\n")
    start = time.monotonic()
    script = "import subprocess, sys; subprocess.run([sys.executable, '-c', 'import time; time.sleep(60)'])"
    code, _, seconds = gpu_run.run_command([sys.executable, "-c", script], {}, log, timeout=1)
    assert code == 124 and seconds < 20 and time.monotonic() - start < 20
    assert "hello" in (tmp_path / "log").read_text(encoding="utf-8")


def make_run(run_dir: Path) -> None:
    """A run folder as the driver leaves it: DONE markers, LLaMA-Factory's and TRL's outputs."""
    write_json(run_dir / "de_ner" / "DONE", {"finished": 30, "results": {
        "stage": "de_ner", "engine": "trl", "seconds": 20.0, "backend_seconds": 18.0, "samples": 8,
        "mean_reward": -0.5}})
    (run_dir / "de_ner" / "config.yaml").write_text(yaml.safe_dump({"trainer": {
        "num_train_epochs": 2.0, "num_generations": 4}}), encoding="utf-8")
    write_json(run_dir / "de_ner" / "output" / "trainer_state.json",
               {"log_history": [{"loss": 0.1, "step": 1}, {"train_runtime": 3.2, "step": 2}]})
    write_json(run_dir / "cm_ner" / "DONE", {"finished": 10, "results": {
        "stage": "cm_ner", "engine": "llamafactory", "seconds": 12.5, "backend_seconds": 12.0, "samples": 48,
        "final_loss": 1.5}})
    write_json(run_dir / "cm_ner" / "output" / "all_results.json",
               {"effective_tokens_per_sec": 12345.678, "train_samples_per_second": 99.0, "train_runtime": 7.3})
    write_json(run_dir / "eval" / "DONE", {"finished": 40, "results": {
        "stage": "eval", "engine": "eval", "seconds": 9.0, "averages": {"ner/strict": 1.0}}})
    (run_dir / "sa").mkdir()  # started, never finished: not reported


def test_stage_metrics_read_sft_tokens_and_grpo_completions_per_second_in_finishing_order(tmp_path):
    make_run(tmp_path)
    rows = gpu_run.stage_metrics(tmp_path)
    assert [r["stage"] for r in rows] == ["cm_ner", "de_ner", "eval"]
    sft, grpo, evaluation = rows
    assert (sft["tokens_per_s"], sft["samples_per_s"], sft["final_loss"]) == (12345.7, 99.0, 1.5)
    assert (grpo["completions"], grpo["completions_per_s"], grpo["mean_reward"]) == (64, 20.0, -0.5)
    assert evaluation["averages"] == {"ner/strict": 1.0}
    report = {"status": "ok", "seconds": 50.0, "limit_s": 360, "environment": {"device": "NVIDIA H200"},
              "phases": {"pipeline": 41.0}, "stages": rows,
              "decode": {"tokens_per_s": 900.4, "tokens": 1024, "batch_size": 8, "device": "cuda"}}
    text = "\n".join(gpu_run.table(report))
    assert "on NVIDIA H200" in text and "SFT 12346 tokens/s" in text and "GRPO 20.00 completions/s" in text
    assert "  decoding         900 tokens/s (1024 tokens, batch 8, cuda)" in text


def test_last_json_is_the_last_object_a_helper_printed():
    assert gpu_run.last_json('{"a": 1}\nLoading...\n{"b": 2}\n[3]\nbye') == {"b": 2}
    assert gpu_run.last_json("no json") is None


def test_install_refuses_a_wheel_folder_that_does_not_match_the_list(tmp_path):
    (tmp_path / "trl-0.99.0-py3-none-any.whl").write_bytes(b"")
    log = gpu_run.Log(open(tmp_path / "log", "w", encoding="utf-8"))
    assert gpu_run.install_wheels(tmp_path, tmp_path / "site", log) == (2, 0.0)
    assert not (tmp_path / "site").exists()
    assert "trl-0.99.0-py3-none-any.whl" in (tmp_path / "log").read_text(encoding="utf-8")


def test_the_rehearsal_overlays_the_machines_known_other_versions_but_no_cuda_build():
    machine = parse_pins(["transformers==5.17.0", "torch==2.11.0", "accelerate==1.15.0", "safetensors==0.8.0",
                          "pandas", "jax==0.11.2"])
    installed = {"transformers": "5.6.0", "torch": "2.13.0", "accelerate": "1.11.0", "safetensors": "0.8.0",
                 "pandas": "2.3.3", "jax": None}
    assert [p.spec for p in overlay_pins(machine, installed)] == ["transformers==5.17.0", "accelerate==1.15.0"]


def test_a_failed_check_still_writes_its_report_and_log(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    assert gpu_run.run_check(tmp_path / "out", device="cuda", wheels=wheels, run_dir=tmp_path / "run") == 1
    report = json.loads((tmp_path / "out" / "gpu_check.json").read_text(encoding="utf-8"))
    assert report["status"] == "failed" and report["error"].startswith("installing the wheels failed")
    assert report["version_check"].startswith("LLaMA-Factory's DISABLE_VERSION_CHECK=1")
    assert "GPU check: failed" in (tmp_path / "out" / "gpu_check.log").read_text(encoding="utf-8")
