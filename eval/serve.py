"""An extraction server: ``POST /v1/extract`` answers as ``eval.infer`` prints, with requests batched together.

    python -m eval.serve --model DIR --api-key-file key.txt [--backend transformers|vllm] [--host 127.0.0.1]
                         [--port 8000] [--constrained] [--max-wait-ms 5] [--batch-size 16] [--context N]

``POST /v1/extract`` takes ``{"text", "task": "ner"|"re"|"ee", "labels", "constrained"?, "long"?}`` (labels as
``eval.infer`` takes them: a list, ``{event type: [roles]}`` for EE, or the same as one string) and returns the
text's units with the raw output and its verdict (``parsed``, ``valid``, ...). The prompt is built by
``eval.infer.ExtractionIO``, the bytes the model was trained on. ``constrained`` (default: ``--constrained``)
decodes under the JSON Schema of the answer. ``GET /health`` says the server is up and counts requests and
generate calls.

Every ``/v1/extract`` call needs ``Authorization: Bearer <key>`` with the key of ``--api-key-file`` (401 without
it). A body that is not the request above is a 422 naming the field; a text whose prompt and answer do not fit the
context (``--context``, by default the model's) is a 413 giving the limit, or, with ``"long": "split"``, is cut at
sentence boundaries, each piece extracted and the answers merged with the pieces' character offsets
(``eval.long_text``). Nothing is truncated silently.

Requests are batched: a request waits at most ``--max-wait-ms`` for others to join it (up to ``--batch-size``),
then the batch is generated at once in a worker thread while new requests queue for the next batch. The server
listens on ``--host`` only (loopback by default).
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Literal, Sequence

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from converters.records import Schema
from eval.infer import ExtractionIO, InputError, parse_labels, schema_for
from eval.long_text import TooLong, merge_rows, pack
from eval.predict import BACKENDS, Generation, Generator, JsonSchema, load_tokenizer, make_generator


class ExtractRequest(BaseModel):
    """The body of ``POST /v1/extract``; unknown keys are refused (a misspelt option must not pass silently)."""

    model_config = ConfigDict(extra="forbid")

    text: str
    task: Literal["ner", "re", "ee"]
    labels: list[str] | dict[str, list[str]] | str
    constrained: bool | None = None
    long: Literal["error", "split"] = "error"


@dataclass
class _Item:
    prompt: str
    json_schema: JsonSchema | None
    done: asyncio.Future


@dataclass
class Batcher:
    """Collects requests into batches for one generator; generation runs in a worker thread, one batch at a time."""

    generate: Generator
    batch_size: int = 16
    max_wait_s: float = 0.005
    generate_calls: int = 0
    prompts: int = 0
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)

    async def submit(self, prompt: str, json_schema: JsonSchema | None) -> Generation:
        """The generation for one prompt, once its batch has run."""
        done = asyncio.get_running_loop().create_future()
        await self.queue.put(_Item(prompt, json_schema, done))
        return await done

    async def _next_batch(self) -> list[_Item]:
        batch = [await self.queue.get()]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait_s
        while len(batch) < self.batch_size:
            if not self.queue.empty():
                batch.append(self.queue.get_nowait())
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self.queue.get(), remaining))
            except asyncio.TimeoutError:
                break
        return batch

    async def run(self) -> None:
        """Serve batches until cancelled."""
        while True:
            batch = await self._next_batch()
            schemas = [item.json_schema for item in batch]
            prompts = [item.prompt for item in batch]
            self.generate_calls += 1
            self.prompts += len(batch)
            try:
                if any(s is not None for s in schemas):
                    outputs = await asyncio.to_thread(self.generate, prompts, schemas)
                else:
                    outputs = await asyncio.to_thread(self.generate, prompts)
            except Exception as exc:  # every waiting request gets the failure (a 500), the server goes on
                for item in batch:
                    if not item.done.done():
                        item.done.set_exception(exc)
                continue
            for item, output in zip(batch, outputs):
                if not item.done.done():
                    item.done.set_result(output)


@dataclass(frozen=True)
class ServeSettings:
    """What every request shares: how prompts are written, the token budget, the defaults of request options."""

    io: ExtractionIO
    context: int  # tokens a prompt and its answer may take together
    max_new_tokens: int
    constrained: bool = False


def _error(status: int, field_name: str, message: str, **extra: Any) -> JSONResponse:
    """An error in FastAPI's shape (``detail``: a list of ``{loc, msg, type}``), naming the body field."""
    return JSONResponse(status_code=status, content={"detail": [{"loc": ["body", field_name], "msg": message,
                                                                 "type": "value_error", **extra}]})


def create_app(settings: ServeSettings, generate: Generator, api_key: str, batch_size: int = 16,
               max_wait_ms: float = 5.0) -> FastAPI:
    """The ASGI app; ``generate`` is the backend (``eval.predict.make_generator``), shared by all requests."""
    if not api_key:
        raise ValueError("api_key: an empty key would let anyone in")
    batcher = Batcher(generate, batch_size, max_wait_ms / 1000)
    counters = {"requests": 0}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        batcher.queue = asyncio.Queue()  # bound to the server's event loop
        worker = asyncio.create_task(batcher.run())
        yield
        worker.cancel()

    app = FastAPI(title="ProUIE extraction", lifespan=lifespan)
    app.state.batcher = batcher

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own 422, less its echo of the input (a long text sent back whole)
        return JSONResponse(status_code=422, content={"detail": [
            {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]})

    @app.middleware("http")
    async def require_key(request: Request, call_next: Any) -> Any:
        if request.url.path.startswith("/v1/"):
            scheme, _, key = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(key.strip().encode(), api_key.encode()):
                return JSONResponse(status_code=401, content={"detail": "missing or wrong API key "
                                                              "(send Authorization: Bearer <key>)"},
                                    headers={"WWW-Authenticate": "Bearer"})
        return await call_next(request)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "requests": counters["requests"], "generate_calls": batcher.generate_calls,
                "prompts": batcher.prompts}

    @app.post("/v1/extract")
    async def extract(body: ExtractRequest) -> JSONResponse:
        counters["requests"] += 1
        try:
            labels = parse_labels(body.task, body.labels) if isinstance(body.labels, str) else body.labels
            schema = schema_for(body.task, labels, body.text)
        except InputError as err:
            return _error(422, err.field, err.message)
        constrained = settings.constrained if body.constrained is None else body.constrained
        if fits(settings, schema):
            return JSONResponse(await _answer(settings, batcher, schema, constrained))
        limit = settings.context - settings.max_new_tokens
        if body.long != "split":
            return _error(413, "text", f"the prompt for this text takes {prompt_tokens(settings, schema)} tokens; "
                                       f"the limit is {limit} ({settings.context} of context less "
                                       f"{settings.max_new_tokens} for the answer). Send a shorter text, or "
                                       "\"long\": \"split\" to extract sentence by sentence", limit=limit)
        try:
            pieces = pack(body.text, lambda piece: fits(settings, Schema(schema.task, schema.labels, piece)))
        except TooLong as err:
            return _error(413, "text", f"{err}: the limit is {limit} prompt tokens", limit=limit,
                          start=err.start, end=err.end)
        schemas = [Schema(schema.task, schema.labels, body.text[s:e]) for s, e in pieces]
        outputs = await asyncio.gather(*(_generate(settings, batcher, s, constrained) for s in schemas))
        parsed = [settings.io.parse(s, raw) for s, raw in zip(schemas, outputs)]
        return JSONResponse(merge_rows(body.text, schema.task, pieces, outputs, parsed))

    return app


def prompt_tokens(settings: ServeSettings, schema: Schema) -> int:
    """The number of tokens of the prompt for ``schema``."""
    return len(settings.io.tokenizer(settings.io.prompt(schema), add_special_tokens=False)["input_ids"])


def fits(settings: ServeSettings, schema: Schema) -> bool:
    """Whether the prompt and the longest answer fit the context."""
    return prompt_tokens(settings, schema) + settings.max_new_tokens <= settings.context


async def _generate(settings: ServeSettings, batcher: Batcher, schema: Schema, constrained: bool) -> str:
    raw, _ = await batcher.submit(settings.io.prompt(schema), settings.io.json_schema(schema) if constrained else None)
    return raw


async def _answer(settings: ServeSettings, batcher: Batcher, schema: Schema, constrained: bool) -> dict[str, Any]:
    return settings.io.row(schema, await _generate(settings, batcher, schema, constrained))


def model_context(model_dir: str | Path) -> int:
    """The model's context in tokens (``max_position_embeddings`` of its config)."""
    from transformers import AutoConfig

    return int(AutoConfig.from_pretrained(str(model_dir)).max_position_embeddings)


def read_api_key(path: str | Path) -> str:
    """The key in ``path`` (surrounding whitespace removed); an empty or missing file is an error."""
    try:
        key = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(f"--api-key-file: cannot read {path}: {exc.strerror}") from None
    if not key:
        raise ValueError(f"--api-key-file: {path} is empty")
    return key


def build_app(model: str, api_key: str, backend: str = "transformers", template: str = "qwen3_nothink",
              style: str = "sa", profile: str = "default", max_new_tokens: int = 512, constrained: bool = False,
              context: int | None = None, batch_size: int = 16, max_wait_ms: float = 5.0,
              device: str | None = None, generator: Generator | None = None) -> FastAPI:
    """The app for a model folder, with its backend loaded (``generator`` replaces it)."""
    io = ExtractionIO(load_tokenizer(model), template, style, profile)
    settings = ServeSettings(io, context or model_context(model), max_new_tokens, constrained)
    if settings.context <= max_new_tokens:
        raise ValueError(f"--context {settings.context} leaves no room for a prompt with --max-new-tokens "
                         f"{max_new_tokens}")
    generate = generator or make_generator(model, template, backend, max_new_tokens, device)
    return create_app(settings, generate, api_key, batch_size, max_wait_ms)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m eval.serve", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="model directory (Hugging Face format)")
    ap.add_argument("--api-key-file", required=True, help="file holding the key clients send as a Bearer token")
    ap.add_argument("--backend", default="transformers", choices=BACKENDS)
    ap.add_argument("--host", default="127.0.0.1", help="the one address to listen on (default: loopback only)")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--template", default="qwen3_nothink")
    ap.add_argument("--style", default="sa", choices=["sa", "cm"])
    ap.add_argument("--profile", default="default")
    ap.add_argument("--max-new-tokens", type=int, default=512)
    ap.add_argument("--constrained", action="store_true", help="default of the requests' \"constrained\"")
    ap.add_argument("--context", type=int, help="tokens a prompt and its answer may take (default: the model's)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-wait-ms", type=float, default=5.0, help="how long a request waits for others to join")
    ap.add_argument("--device", help="transformers backend: cuda or cpu (default: cuda if available)")
    args = ap.parse_args(argv)
    import uvicorn

    try:
        app = build_app(args.model, read_api_key(args.api_key_file), args.backend, args.template, args.style,
                        args.profile, args.max_new_tokens, args.constrained, args.context, args.batch_size,
                        args.max_wait_ms, args.device)
    except ValueError as err:
        ap.error(str(err))
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
