"""The extraction server under load against in-process ``eval.infer.extract`` on the same texts.

Starts ``python -m eval.serve`` on 127.0.0.1 (a free port, a throw-away key) and sends it ``--requests`` requests,
``--concurrency`` at a time, cycling through the bundled test records of every task (each with its own labels);
then extracts the same texts in this process with ``extract`` (batches of ``--concurrency``, grouped by task).
Prints requests/s of both, the server's p50/p99 latency and how many generate calls served the requests. Traffic
goes to loopback only, the request count is bounded, and the run stops by itself after ``--deadline`` seconds.

    python benchmarks/bench_serve.py --model DIR [--requests 200] [--concurrency 8] [--constrained]

``--model`` is a trained model folder (a stage checkpoint): on a random or base model this measures the
mechanics only, so its numbers are not results.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from converters.readers import ReadLog  # noqa: E402
from eval.benchmarks import resolve  # noqa: E402
from eval.infer import extract  # noqa: E402

HOST = "127.0.0.1"  # loopback only


def _bodies(n: int, constrained: bool) -> list[dict[str, Any]]:
    """``n`` requests cycling through the bundled test records of every dataset, each with its own labels."""
    records = [r for ds in resolve("smoke") for r in ds.records(None, ReadLog())[:20]]
    return [{"text": r["text"], "task": r["task"], "labels": r["labels"], "constrained": constrained}
            for r in (records[i % len(records)] for i in range(n))]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _wait_up(client: Any, proc: subprocess.Popen, deadline: float) -> None:
    import httpx

    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}")
        try:
            if client.get("/health").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.5)
    raise SystemExit("the server did not come up before the deadline")


def _serve_load(client: Any, bodies: list[dict[str, Any]], concurrency: int, deadline: float
                ) -> tuple[float, list[float]]:
    """(wall seconds, per-request latencies) of sending ``bodies``; stops at ``deadline``."""

    def one(body: dict[str, Any]) -> float:
        if time.monotonic() > deadline:
            raise SystemExit("deadline reached")
        t0 = time.perf_counter()
        got = client.post("/v1/extract", json=body)
        if got.status_code != 200:
            raise SystemExit(f"HTTP {got.status_code}: {got.text[:300]}")
        return time.perf_counter() - t0

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        latencies = list(pool.map(one, bodies))
    return time.perf_counter() - start, latencies


def _in_process(args: argparse.Namespace, bodies: list[dict[str, Any]]) -> float:
    """Seconds ``extract`` takes for the same texts, one call per task, batches of ``--concurrency``."""
    from eval.predict import make_generator

    generate = make_generator(args.model, args.template, max_new_tokens=args.max_new_tokens, device=args.device)
    start = time.perf_counter()
    for task in ("ner", "re", "ee"):
        rows = [b for b in bodies if b["task"] == task]
        if rows:
            extract([b["text"] for b in rows], task, [b["labels"] for b in rows], args.model,
                    template=args.template, max_new_tokens=args.max_new_tokens, batch_size=args.concurrency,
                    per_text_labels=True, generator=generate, constrained=args.constrained)
    return time.perf_counter() - start


def main() -> int:
    import httpx

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="a trained model folder")
    ap.add_argument("--template", default="qwen3_nothink", help="the template the model was trained with")
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--constrained", action="store_true")
    ap.add_argument("--device", help="cuda or cpu (default: cuda if available), for the server and in-process")
    ap.add_argument("--deadline", type=float, default=1800, help="seconds after which the run stops")
    args = ap.parse_args()
    if not 0 < args.requests <= 10_000:
        ap.error("--requests must be between 1 and 10000")
    deadline = time.monotonic() + args.deadline
    bodies = _bodies(args.requests, args.constrained)
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        key = secrets.token_urlsafe(24)
        key_file = Path(tmp) / "key"
        key_file.write_text(key)
        command = [sys.executable, "-m", "eval.serve", "--model", args.model, "--api-key-file", str(key_file),
                   "--host", HOST, "--port", str(port), "--template", args.template, "--max-new-tokens",
                   str(args.max_new_tokens), "--batch-size", str(args.concurrency),
                   *(["--device", args.device] if args.device else [])]
        proc = subprocess.Popen(command, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            with httpx.Client(base_url=f"http://{HOST}:{port}", headers={"Authorization": f"Bearer {key}"},
                              timeout=max(1.0, args.deadline)) as client:
                _wait_up(client, proc, deadline)
                _serve_load(client, bodies[:args.concurrency], args.concurrency, deadline)  # warm-up, untimed
                before = client.get("/health").json()
                wall, latencies = _serve_load(client, bodies, args.concurrency, deadline)
                after = client.get("/health").json()
        finally:
            proc.terminate()
            proc.wait(30)
    local = _in_process(args, bodies)
    cuts = statistics.quantiles(latencies, n=100)
    print(f"server:     {len(bodies)} requests, {args.concurrency} concurrent, in {wall:.1f} s: "
          f"{len(bodies) / wall:.2f} requests/s; latency p50 {cuts[49]:.3f} s, p99 {cuts[98]:.3f} s; "
          f"{after['generate_calls'] - before['generate_calls']} generate calls")
    print(f"in-process: the same texts with extract() in {local:.1f} s: {len(bodies) / local:.2f} requests/s")
    print(f"server throughput: {local / wall:.2f}x in-process")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
