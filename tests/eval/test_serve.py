"""The extraction server over real HTTP on loopback: answers as eval.infer's, keys, bad input, long texts, batching,
and a bounded load test with the tiny model."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from converters.chat import chat_prompt
from converters.format import render_prompt
from converters.records import Schema
from eval.constrained import output_json_schema
from eval.infer import ExtractionIO, extract
from eval.predict import load_tokenizer
from eval.serve import ServeSettings, build_app, create_app
from tests.helpers.smoke_runs import REPO

KEY = "test-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
TEMPLATE = "qwen3_nothink"
CONTEXT, MAX_NEW = 400, 16
NER = {"text": "Anna lives in Rome .", "task": "ner", "labels": ["person", "location"]}


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """``app`` under uvicorn in a thread, on a socket bound to 127.0.0.1 by the test; stopped on exit."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


@pytest.fixture(scope="module")
def model_url(tiny_model_dir: Path) -> Iterator[str]:
    """The real server: the tiny model on the transformers backend."""
    app = build_app(str(tiny_model_dir), KEY, max_new_tokens=MAX_NEW, context=CONTEXT, max_wait_ms=20, device="cpu")
    with serving(app) as url:
        yield url


class Oracle:
    """A backend that answers ``{"person": <first word of the input>}`` and records what it was asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], Any]] = []

    def __call__(self, prompts: list[str], json_schemas: Any = None) -> list[tuple[str, int]]:
        self.calls.append((prompts, json_schemas))
        texts = [p.split("The user input is:\n", 1)[1].split("<|im_end|>", 1)[0] for p in prompts]
        return [(json.dumps({"person": t.split()[0]}), 5) for t in texts]


@pytest.fixture(scope="module")
def oracle(tiny_model_dir: Path) -> Iterator[tuple[str, Oracle]]:
    backend = Oracle()
    settings = ServeSettings(ExtractionIO(load_tokenizer(str(tiny_model_dir)), TEMPLATE), CONTEXT, MAX_NEW)
    with serving(create_app(settings, backend, KEY)) as url:
        yield url, backend


def _post(url: str, body: Any, headers: dict[str, str] | None = None, **kw: Any) -> httpx.Response:
    return httpx.post(f"{url}/v1/extract", json=body, headers=AUTH if headers is None else headers, timeout=120, **kw)


def _health(url: str) -> dict[str, Any]:
    return httpx.get(f"{url}/health", timeout=30).json()


def test_answers_are_those_eval_infer_prints(model_url: str, tiny_model_dir: Path) -> None:
    got = _post(model_url, NER)
    assert got.status_code == 200
    expected = extract([NER["text"]], "ner", NER["labels"], tiny_model_dir, max_new_tokens=MAX_NEW)[0]
    assert got.json() == expected and set(expected) >= {"entities", "output", "parsed", "valid", "reasons"}
    re_body = {"text": "The company makes chairs .", "task": "re", "labels": "product producer,cause effect",
               "constrained": True}
    bound = _post(model_url, re_body).json()
    assert bound == extract([re_body["text"]], "re", ["product producer", "cause effect"], tiny_model_dir,
                            max_new_tokens=MAX_NEW, constrained=True)[0]
    assert bound["parsed"] is True and bound["output"].startswith("{")  # the random model writes JSON only so
    assert expected["parsed"] is False


def test_every_extract_call_needs_the_key(oracle: tuple[str, Oracle]) -> None:
    url, _ = oracle
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {KEY}"},
                    {"Authorization": KEY}):
        got = _post(url, NER, headers)
        assert got.status_code == 401 and got.headers["www-authenticate"] == "Bearer", headers
        assert "API key" in got.json()["detail"]
    assert _post(url, {"text": 3}, {}).status_code == 401  # refused before the body is read
    assert _post(url, NER).status_code == 200
    assert httpx.get(f"{url}/health", timeout=30).json()["status"] == "ok"  # health needs no key


@pytest.mark.parametrize(("body", "field", "message"), [
    ({"task": "ner", "labels": ["person"]}, "text", "Field required"),
    ({**NER, "text": 7}, "text", "valid string"),
    ({**NER, "task": "pos"}, "task", "'ner', 're' or 'ee'"),
    ({**NER, "labels": []}, "labels", "non-empty list"),
    ({**NER, "labels": ""}, "labels", "non-empty list"),
    ({**NER, "task": "ee", "labels": {}}, "labels", "EE labels must be an object"),
    ({**NER, "task": "ee", "labels": ["attack"]}, "labels", "EE labels must be an object"),
    ({**NER, "task": "ee", "labels": "{not json"}, "labels", "not valid JSON"),
    ({**NER, "constrainted": True}, "constrainted", "Extra inputs are not permitted"),
    ({**NER, "long": "truncate"}, "long", "'error' or 'split'"),
])
def test_bad_bodies_are_422_naming_the_field(oracle: tuple[str, Oracle], body: dict[str, Any], field: str,
                                             message: str) -> None:
    got = _post(oracle[0], body)
    assert got.status_code == 422
    detail = got.json()["detail"][0]
    assert detail["loc"][:2] == ["body", field] and message in detail["msg"], detail
    assert "input" not in detail  # the body is not echoed back


def test_a_body_that_is_not_json_is_422(oracle: tuple[str, Oracle]) -> None:
    got = httpx.post(f"{oracle[0]}/v1/extract", content=b'{"text": ', headers={**AUTH, "content-type":
                                                                                 "application/json"}, timeout=30)
    assert got.status_code == 422 and got.json()["detail"][0]["type"] == "json_invalid"


def test_prompts_are_the_training_bytes_and_constrained_adds_the_json_schema(oracle: tuple[str, Oracle],
                                                                           tiny_model_dir: Path) -> None:
    url, backend = oracle
    tokenizer = load_tokenizer(str(tiny_model_dir))
    schema = Schema("ner", ("person", "location"), NER["text"])
    for constrained, expected in [(None, None), (False, None), (True, output_json_schema(schema, "sa"))]:
        backend.calls.clear()
        assert _post(url, {**NER, "constrained": constrained} if constrained is not None else NER).status_code == 200
        (prompts, schemas), = backend.calls
        assert prompts == [chat_prompt(render_prompt(schema, "sa"), TEMPLATE, tokenizer)]
        assert schemas == (None if expected is None else [expected])


def test_a_text_beyond_the_context_is_413_or_split_into_sentences(oracle: tuple[str, Oracle],
                                                                  tiny_model_dir: Path) -> None:
    url, backend = oracle
    sentences = [f"W{i} met Bob in Rome ." for i in range(40)]
    text = " ".join(sentences)
    refused = _post(url, {**NER, "text": text})
    assert refused.status_code == 413
    detail = refused.json()["detail"][0]
    assert detail["loc"] == ["body", "text"] and detail["limit"] == CONTEXT - MAX_NEW
    assert f"the limit is {CONTEXT - MAX_NEW}" in detail["msg"]
    backend.calls.clear()
    split = _post(url, {**NER, "text": text, "long": "split"})
    assert split.status_code == 200
    answer = split.json()
    pieces = answer["pieces"]
    assert len(pieces) > 1 and answer["text"] == text and "output" not in answer
    assert " ".join(text[p["start"]:p["end"]] for p in pieces) == text  # every sentence, each once, in order
    assert all(text[p["start"]:p["end"]].endswith(" .") for p in pieces)  # cut between sentences only
    firsts = [text[p["start"]:p["end"]].split()[0] for p in pieces]
    assert answer["entities"] == [{"type": "person", "text": w} for w in firsts]  # the oracle's answer per piece
    assert answer["valid"] is True and all(p["valid"] for p in pieces)
    tokenizer = load_tokenizer(str(tiny_model_dir))
    prompts = [p for call in backend.calls for p in call[0]]
    assert len(prompts) == len(pieces) and len(backend.calls) < len(pieces)  # the pieces go in as one batch
    assert all(len(tokenizer(p, add_special_tokens=False)["input_ids"]) + MAX_NEW <= CONTEXT for p in prompts)
    one_sentence = " ".join(["word"] * 600) + " ."
    got = _post(url, {**NER, "text": one_sentence, "long": "split"})
    assert got.status_code == 413 and got.json()["detail"][0]["start"] == 0


def _concurrently(url: str, bodies: list[dict[str, Any]], workers: int) -> list[httpx.Response]:
    with httpx.Client(base_url=url, headers=AUTH, timeout=120) as client, ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda body: client.post("/v1/extract", json=body), bodies))


def test_concurrent_requests_are_generated_together(model_url: str) -> None:
    before = _health(model_url)
    bodies = [{**NER, "text": f"Anna {i} lives in Rome ."} for i in range(8)]
    answers = _concurrently(model_url, bodies, 8)
    after = _health(model_url)
    assert [a.status_code for a in answers] == [200] * 8
    assert [a.json()["text"] for a in answers] == [b["text"] for b in bodies]
    assert after["requests"] - before["requests"] == 8
    assert after["generate_calls"] - before["generate_calls"] < 8  # batched: fewer generate calls than requests


def test_bounded_load_on_loopback(model_url: str) -> None:
    """200 requests, 8 at a time, all three tasks, constrained or not; stops by itself within its deadline."""
    kinds = [NER, {"text": "The company makes chairs .", "task": "re", "labels": ["product producer"]},
             {"text": "She developed a rash after aspirin .", "task": "ee",
              "labels": {"adverse event": ["Subject", "Effect"]}}]
    bodies = [{**kinds[i % 3], "constrained": i % 2 == 0} for i in range(200)]
    before, started = _health(model_url), time.monotonic()
    answers = _concurrently(model_url, bodies, 8)
    elapsed = time.monotonic() - started
    after = _health(model_url)
    assert [a.status_code for a in answers] == [200] * 200
    assert all(a.json()["parsed"] for a, b in zip(answers, bodies) if b["constrained"])
    assert after["requests"] - before["requests"] == 200
    assert after["generate_calls"] - before["generate_calls"] < 200 and elapsed < 300


def _listening(port: int) -> list[str]:
    """The local addresses (hex, as in /proc/net/tcp) of the sockets listening on ``port``."""
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:] + Path("/proc/net/tcp6").read_text().splitlines()[1:]
    return [r.split()[1].split(":")[0] for r in rows if r.split()[3] == "0A" and int(r.split()[1].split(":")[1], 16)
            == port]


@pytest.mark.slow  # starts a Python process that loads the model
def test_the_command_listens_on_loopback_only(tiny_model_dir: Path, tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "eval.serve", "--model", str(tiny_model_dir), "--api-key-file",
                             str(key_file), "--port", str(port), "--max-new-tokens", "8"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "the server did not come up"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        assert _listening(port) == ["0100007F"]  # 127.0.0.1 and nothing else
        assert _post(f"http://127.0.0.1:{port}", NER).status_code == 200
    finally:
        proc.terminate()
        proc.wait(30)
    empty = tmp_path / "empty"
    empty.write_text("\n")
    for bad in (tmp_path / "missing", empty):
        failed = subprocess.run([sys.executable, "-m", "eval.serve", "--model", str(tiny_model_dir),
                                 "--api-key-file", str(bad)], cwd=REPO, env=env, capture_output=True, text=True,
                                timeout=120)
        assert failed.returncode == 2 and "--api-key-file" in failed.stderr
