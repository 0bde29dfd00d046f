"""Constrained decoding: the model can only write the JSON object its prompt asks for.

``output_json_schema`` turns the ``Schema`` a prompt is rendered from (``converters.format.render_prompt``) into a
JSON Schema of the target ``converters.format.render_target`` writes: an object whose keys are the schema's
slots, in the prompt's order, with string values and nothing else (``additionalProperties: false``). CM targets
list every slot (all required, ``""`` allowed); SA targets drop empty slots, so there every key is optional but a
key that is written has a non-empty value. No grammar is written by hand: the backends compile this JSON Schema
with their own library (xgrammar here, vLLM's structured outputs there).

On the transformers backend ``GrammarConstraints`` compiles it with xgrammar for the model's tokenizer, in the
compact layout of the training targets (``{"slot": "value", "slot": ""}``: ``", "`` and ``": "``, no other
whitespace), so that a model writing its training format is never overridden. ``BatchConstraint`` holds one
xgrammar matcher per row of a batch; ``eval.predict.greedy_decode`` asks it to mask each step's logits before the
argmax and hands it the chosen token. The matchers' stop tokens are the template's: once the object is closed
only a stop token is allowed, so a row ends exactly when its matcher terminates.
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

from converters.format import STYLES
from converters.records import Schema

# The separators of rendered targets (converters.format.render._render joins with ", " and writes '"slot": value').
TARGET_SEPARATORS = (", ", ": ")


def output_json_schema(schema: Schema, style: str) -> dict[str, Any]:
    """The JSON Schema of a target for ``schema`` in prompt style ``style`` (``cm``: every slot, ``sa``: the
    filled ones); keys in the order the prompt lists the slots."""
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; expected one of {STYLES}")
    slots = list(dict.fromkeys(schema.slots))
    if not slots:
        raise ValueError("labels: the schema has no slots to constrain the output to")
    value: dict[str, Any] = {"type": "string"} if style == "cm" else {"type": "string", "minLength": 1}
    return {"type": "object", "properties": {slot: dict(value) for slot in slots},
            "required": slots if style == "cm" else [], "additionalProperties": False}


class BatchConstraint:
    """One xgrammar matcher per row of a batch (``None``: the row is free): masks a decoding step's logits, then
    follows the chosen tokens. Constrained and free rows share a batch (a server mixes requests)."""

    def __init__(self, matchers: list[Any | None], vocab_size: int) -> None:
        import xgrammar as xgr

        self.matchers = matchers
        self.bitmask = xgr.allocate_token_bitmask(len(matchers), vocab_size)

    def mask(self, logits: Any, rows: Sequence[int]) -> Any:
        """Set to ``-inf`` (in place) every logit the grammar forbids; ``logits[j]`` belongs to batch row
        ``rows[j]`` (rows that stopped have left the batch). Returns ``logits``."""
        import xgrammar as xgr

        bound = [j for j, row in enumerate(rows) if self.matchers[row] is not None]
        for j in bound:
            self.matchers[rows[j]].fill_next_token_bitmask(self.bitmask, j)
        if bound:
            xgr.apply_token_bitmask_inplace(logits, self.bitmask.to(logits.device), indices=bound)
        return logits

    def accept(self, row: int, token: int) -> None:
        """Advance row ``row``'s matcher by the token it produced (always one the mask allowed)."""
        matcher = self.matchers[row]
        if matcher is not None and not matcher.accept_token(token):
            raise RuntimeError(f"constrained decoding: row {row} produced token {token}, which its grammar forbids")


class GrammarConstraints:
    """The xgrammar compiler of one model's tokenizer, whose grammars end with the template's stop tokens;
    xgrammar caches compiled grammars by their JSON Schema."""

    def __init__(self, tokenizer: Any, vocab_size: int, stop_ids: Sequence[int]) -> None:
        import xgrammar as xgr

        self.vocab_size = vocab_size  # the width of the model's logits, which may exceed the tokenizer's
        info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size, stop_token_ids=list(stop_ids))
        self.compiler = xgr.GrammarCompiler(info, max_threads=1)

    def compile(self, json_schema: Mapping[str, Any]) -> Any:
        """The compiled grammar of ``json_schema`` in the training targets' compact layout."""
        return self.compiler.compile_json_schema(json.dumps(json_schema, ensure_ascii=False), any_whitespace=False,
                                                 separators=TARGET_SEPARATORS, strict_mode=True)

    def batch(self, json_schemas: Sequence[Mapping[str, Any] | None]) -> BatchConstraint:
        """Fresh matchers for a batch, one per row's JSON Schema (``None``: that row is not constrained)."""
        import xgrammar as xgr

        return BatchConstraint([None if s is None else xgr.GrammarMatcher(self.compile(s)) for s in json_schemas],
                               self.vocab_size)
