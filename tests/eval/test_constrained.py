"""Constrained decoding: the JSON Schema is the rendered target's, the grammar binds only where a model leaves it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from converters.bundled import bundled_records
from converters.format import parse_output, render_prompt, render_target
from converters.records import Schema, schema_of
from eval.constrained import GrammarConstraints, output_json_schema
from eval.metrics import validity
from eval.predict import build_prompt, generate_tokens, load_tokenizer, make_generator, predict, vllm_structured_outputs

TEMPLATE = "qwen3_nothink"


def _records() -> list[dict[str, Any]]:
    """NER with one slot and with 14, RE with 10, EE with 2 event types: real bundled test records."""
    return [r for ds in ("ncbi", "crossner_ai", "semeval", "phee") for r in bundled_records(ds, "test")[:15]]


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir: Path) -> Any:
    return load_tokenizer(str(tiny_model_dir))


@pytest.fixture(scope="module")
def grammars(tokenizer: Any) -> GrammarConstraints:
    return GrammarConstraints(tokenizer, len(tokenizer), [tokenizer.eos_token_id])


def test_the_json_schema_has_the_prompt_slots_in_prompt_order() -> None:
    schema = Schema("ner", ("person", "location", "person"), "Anna lives in Rome .")
    assert output_json_schema(schema, "cm") == {
        "type": "object", "properties": {"person": {"type": "string"}, "location": {"type": "string"}},
        "required": ["person", "location"], "additionalProperties": False}
    assert output_json_schema(schema, "sa") == {
        "type": "object", "properties": {"person": {"type": "string", "minLength": 1},
                                         "location": {"type": "string", "minLength": 1}},
        "required": [], "additionalProperties": False}
    for record in _records():
        keys = list(output_json_schema(schema_of(record), "cm")["properties"])
        assert keys == list(schema_of(record).slots)
        assert ", ".join(keys) in render_prompt(record, "cm")  # the order the instruction lists them in
    with pytest.raises(ValueError, match="unknown style 'full'"):
        output_json_schema(schema, "full")
    with pytest.raises(ValueError, match="labels: the schema has no slots"):
        output_json_schema(Schema("ee", {}), "cm")


def _accepts(grammars: GrammarConstraints, record_or_schema: Any, style: str, text: str) -> bool:
    """Whether the grammar of the schema accepts ``text`` followed by the stop token, and then ends."""
    import xgrammar as xgr

    schema = record_or_schema if isinstance(record_or_schema, Schema) else schema_of(record_or_schema)
    matcher = xgr.GrammarMatcher(grammars.compile(output_json_schema(schema, style)))
    eos = matcher.stop_token_ids[0]
    return matcher.accept_string(text) and matcher.accept_token(eos) and matcher.is_terminated()


def test_the_grammar_accepts_every_rendered_target_and_nothing_off_schema(grammars: GrammarConstraints) -> None:
    """The constraint is the training format byte for byte (so a trained model is never overridden), and it
    closes every way out of it."""
    for record in _records():
        for style in ("cm", "sa"):
            assert _accepts(grammars, record, style, render_target(record, style)), (record["id"], style)
    schema = Schema("ner", ("person", "location"))
    for style, text in [("cm", '{"person": "Anna", "location": ""}'), ("sa", '{"location": "Rome"}'),
                        ("sa", "{}"), ("cm", '{"person": "say \\"hi\\"", "location": "Rome"}')]:
        assert _accepts(grammars, schema, style, text), text
    for style, text in [("cm", '{"location": "", "person": "Anna"}'),  # keys out of the prompt's order
                        ("cm", '{"person": "Anna"}'),  # CM lists every slot
                        ("cm", '{"person": "Anna", "location": "", "city": ""}'),  # a key outside the schema
                        ("sa", '{"city": "Rome"}'),
                        ("sa", '{"person": ""}'),  # SA has no empty fields
                        ("cm", '{"person": ["Anna"], "location": ""}'),  # values are strings
                        ("cm", '{"person":"Anna", "location":""}'),  # the targets' separators, no other layout
                        ("cm", '{ "person": "Anna", "location": "" }'),
                        ("sa", '{"person": "Anna",\n"location": "Rome"}'),
                        ("sa", '{"person": "Anna"} and more'),
                        ("sa", '```json\n{"person": "Anna"}\n```')]:
        assert not _accepts(grammars, schema, style, text), text


@pytest.mark.slow  # decodes up to 160 tokens a row
def test_constrained_decoding_makes_the_random_tiny_model_parsable(tiny_model_dir: Path, tokenizer: Any) -> None:
    """The random model writes newlines (0 % parsable); constrained, every output is a JSON object of the
    schema's slots, and every output that stopped is exactly well formed (CM: all slots, in order)."""
    records = [r for ds in ("ncbi", "phee", "semeval") for r in bundled_records(ds, "test")[:3]]
    cap = 160  # RE in CM lists 10 slots: about 130 tokens
    generate = make_generator(tiny_model_dir, TEMPLATE, max_new_tokens=cap, device="cpu")
    for style in ("cm", "sa"):
        prompts = [build_prompt(r, TEMPLATE, tokenizer, style) for r in records]
        free = [parse_output(text, r) for r, (text, _) in zip(records, generate(prompts))]
        assert validity(free)["parsed_rate"] == 0.0
        outputs = generate(prompts, [output_json_schema(schema_of(r), style) for r in records])
        bound = [parse_output(text, r) for r, (text, _) in zip(records, outputs)]
        checks = validity(bound)
        assert checks["parsed_rate"] == 1.0 and checks["schema_rate"] == 1.0, checks
        stopped = [(r, text, p) for r, (text, n), p in zip(records, outputs, bound) if n < cap]
        assert len(stopped) >= len(records) // 2  # a random model may also go on inside a string to the cap
        for record, text, parsed in stopped:
            assert parsed.well_formed, text
            keys = list(json.loads(text))
            assert keys == list(record["labels"]) if style == "cm" else set(keys) <= set(record["labels"])


class _Scripted:
    """The tiny model, made to write ``script`` (token ids, one per decoding step, the same for every row): the
    scripted token's logit is raised far above the rest, so it wins wherever the grammar allows it."""

    def __init__(self, model: Any, script: list[int]) -> None:
        self.model, self.script, self.step = model, script, 0
        self.config, self.device = model.config, model.device

    def __call__(self, **kwargs: Any) -> Any:
        out = self.model(**kwargs)
        if kwargs.get("attention_mask") is None:  # the shared prefix, whose logits are not used
            return out
        if self.step < len(self.script):
            out.logits[:, -1, self.script[self.step]] += 1e4
        self.step += 1
        return out


@pytest.fixture(scope="module")
def tiny_model(tiny_model_dir: Path) -> Any:
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)).eval()


def _decode(model: Any, tokenizer: Any, grammars: GrammarConstraints, prompts: list[str], script: list[int],
            schemas: list[Any] | None) -> list[list[int]]:
    constraint = None if schemas is None else grammars.batch(schemas)
    eos = tokenizer.eos_token_id
    return generate_tokens(_Scripted(model, script), tokenizer, prompts, len(script) + 4, {eos}, constraint)


def test_a_model_writing_its_training_target_is_never_overridden(tiny_model: Any, tokenizer: Any,
                                                                grammars: GrammarConstraints) -> None:
    """Where the constraint never binds, constrained decoding gives the very tokens of free decoding: in a batch
    of constrained rows, and in one that mixes a constrained and a free row."""
    eos = tokenizer.eos_token_id
    for ds, style in [("crossner_ai", "cm"), ("semeval", "sa"), ("phee", "cm"), ("ncbi", "sa")]:
        first, second = bundled_records(ds, "test")[:2]
        target = render_target(first, style)  # CM in crossner_ai: 14 slots, the same tokens again and again
        script = tokenizer(target, add_special_tokens=False)["input_ids"] + [eos]
        assert tokenizer.decode(script[:-1]) == target
        prompts = [build_prompt(r, TEMPLATE, tokenizer, style) for r in (first, second)]
        schemas = [output_json_schema(schema_of(r), style) for r in (first, second)]
        # the free row shows the script is followed; the constrained row beside it writes the same tokens
        assert _decode(tiny_model, tokenizer, grammars, prompts, script, [schemas[0], None]) == [script, script]
        assert _decode(tiny_model, tokenizer, grammars, prompts, script, schemas) == [script, script], (ds, style)


def test_the_constraint_binds_exactly_where_the_script_leaves_the_schema(tiny_model: Any, tokenizer: Any,
                                                                         grammars: GrammarConstraints) -> None:
    """The same scripted model, made to write slots out of order or a slot the schema lacks: constrained
    decoding follows it up to the first token the grammar forbids, and there (and only in that row) it differs."""
    import xgrammar as xgr

    eos = tokenizer.eos_token_id
    record = bundled_records("phee", "test")[0]
    slots = list(record["labels"])
    schema = output_json_schema(schema_of(record), "cm")
    prompts = [build_prompt(record, TEMPLATE, tokenizer, "cm")] * 2
    for wrong in ('{"' + slots[1] + '": "", "' + slots[0] + '": ""}', '{"' + slots[0] + '": "", "drug": ""}'):
        script = tokenizer(wrong, add_special_tokens=False)["input_ids"] + [eos]
        matcher = xgr.GrammarMatcher(grammars.compile(schema))
        k = next(i for i, tok in enumerate(script) if not matcher.accept_token(tok))
        bound, free = _decode(tiny_model, tokenizer, grammars, prompts, script, [schema, None])
        assert free == script
        assert bound[:k] == script[:k] and bound[k] != script[k], (wrong, k)
        check = xgr.GrammarMatcher(grammars.compile(schema))
        assert all(check.accept_token(tok) for tok in bound if tok != eos)  # everything it wrote is on the schema


def test_predict_hands_each_record_its_json_schema(tiny_model_dir: Path, tmp_path: Path) -> None:
    records = bundled_records("phee", "test")[:3] + bundled_records("semeval", "test")[:2]
    seen: list[Any] = []

    def recording(prompts: list[str], json_schemas: Any = None) -> list[tuple[str, int]]:
        seen.append(json_schemas)
        return [("{}", 1) for _ in prompts]

    predict(records, tiny_model_dir, tmp_path / "free.jsonl", style="sa", batch_size=4, generator=recording)
    assert seen == [None, None]
    seen.clear()
    predict(records, tiny_model_dir, tmp_path / "bound.jsonl", style="sa", batch_size=4, generator=recording,
            constrained=True)
    assert seen == [[output_json_schema(schema_of(r), "sa") for r in records[:4]],
                    [output_json_schema(schema_of(records[4]), "sa")]]


def test_run_benchmark_passes_constrained_through(tiny_model_dir: Path, tmp_path: Path) -> None:
    from hydra import compose, initialize_config_dir

    from eval.run_benchmark import CONFIG_DIR, run_benchmark

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("default", overrides=[f"model={tiny_model_dir}", f"out_dir={tmp_path}", "limit=2",
                                            "scorers=[strict]", "constrained=true"])
    seen: list[Any] = []

    def recording(prompts: list[str], json_schemas: Any = None) -> list[tuple[str, int]]:
        seen.append(json_schemas)
        return [("{}", 1) for _ in prompts]

    report = run_benchmark(cfg, generator=recording)
    assert report["constrained"] is True and seen and all(s is not None and len(s) == 2 for s in seen)
    cfg.backend, cfg.predictions_dir = "llamafactory", str(tmp_path)
    with pytest.raises(ValueError, match="constrained: backend=llamafactory reads finished predictions"):
        run_benchmark(cfg, generator=recording)


def test_the_vllm_request_carries_each_prompt_json_schema() -> None:
    """vLLM compiles the same JSON Schema itself (structured outputs): the request carries it per prompt."""
    schema = output_json_schema(Schema("re", ("used for", "part of")), "sa")
    assert vllm_structured_outputs([schema, None]) == [{"json": schema}, None]


def test_infer_constrained_writes_json_objects(tiny_model_dir: Path, capsys: pytest.CaptureFixture) -> None:
    from eval.infer import main as infer_main

    argv = ["--model", str(tiny_model_dir), "--task", "ee", "--labels", '{"attack": ["attacker"], "die": []}',
            "--text", "The soldier fired .", "--max-new-tokens", "24"]
    assert infer_main(argv) == 0
    assert json.loads(capsys.readouterr().out)["parsed"] is False  # the random model, free
    assert infer_main([*argv, "--constrained"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["parsed"] is True and row["off_schema"] == [] and row["output"].startswith("{")
