"""The Stepwise Fine-grained Reward (paper §2.5.2, Eqs. 7-10) and its Table 7 ablations, on structural units.

Units come from ``converters``: ``gold_units(record)`` for gold and ``parse_output(response, ...)`` for the
prediction; a response that cannot be parsed is an empty prediction. Unit sets:

* NER: T = entity types, P = (type, text).
* RE: T = relation types, R = (type, head, tail), H = (type, head), A = (type, tail).
* EE: E = event types, T = (event type, trigger), and per event type the trigger groups' (role, argument) sets,
  aligned by ``rewards.matching``. F_full = 2TP / (2TP + FP + FN) over role-argument pairs, unmatched groups
  counting in full; with no role-argument pair on either side (trigger-only groups) F_full = 1, so trigger-only
  answers are judged by the coarse E and T terms alone.

Every task splits into a coarse part (coverage gains minus coarse penalties) and a fine part (fine gains minus
fine penalties):

* ``sfr`` = coarse + fine, except in EE where Eq. 9 is piecewise: the fine penalty λ_F(1 - F_full) is charged
  only when events and triggers match exactly (δ_E = δ_T = 0); otherwise the coarse branch is charged instead.
* ``coarse_only`` = coarse · W / W_coarse and ``fine_only`` = fine · W / W_fine, where W_coarse and W_fine
  are the kept gain weights and W their sum, so a perfect answer scores W in every variant (EE fine_only
  charges λ_F(1 - F_full) unconditionally: without coarse terms no coarse error takes precedence).

With every gain at 1 and no penalty, a perfect answer (empty gold included) scores exactly W = w_coarse + w_fine
(NER w_t + w_p, RE w_t + w_h + w_a + w_r, EE w_E + w_T + w_F; 1.0 with the paper's values). Clipping to [0, 1]
is optional (paper §2.5.1).

Responses (``score_response``), our rule where the paper is silent: a response that is not the promised JSON
object (``ParseResult.well_formed``: exactly one JSON object of string values) scores the variant's ``floor``,
the reward of an answer that misses every unit of a non-empty gold (NER: -(λ_t + λ_p); RE: -(λ_t + λ_r); EE:
-λ_E; the ablations: their kept penalties, rescaled like their gains), whatever the lenient parser recovers from
it. Without this an unparsable response would be an empty prediction, which on a record with empty gold (SemEval
``Other`` sentences, entity-less NER sentences) earns exactly the reward of the correct answer. Well-formed
responses score Eqs. 7-10 unchanged. Hence, for every record and variant, the correct answer scores strictly
above every response that is not well formed, and (by Eqs. 7-10) strictly above every well-formed response with a
wrong, missing or extra unit of the granularity the variant measures (``tests/rewards/test_ranking.py``).

Every function takes its configuration explicitly (no file is read here): the planner builds it once per run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, NamedTuple

from converters.format import parse_output
from converters.records import Schema, Units, gold_units, schema_of, validate_record
from rewards.config import EEWeights, NERWeights, REWeights, SFRConfig, TaskWeights
from rewards.matching import best_total, overlap_matrix
from rewards.sets import Overlap, count


class SFRScore(NamedTuple):
    """One reward with its sub-scores; every task and variant fills the same numeric fields.

    ``overall``: the reward. ``coverage``: coarse coverage (NER/RE cov(T); EE (w_E cov(E) + w_T cov(T)) /
    (w_E + w_T)). ``fine_f1``: the main fine F1 before stretching (NER fl(P), RE fl(R), EE F_full).
    ``penalty``: what the chosen variant subtracts, before its rescaling. ``format_ok``: 1 when the response is
    the promised JSON object (``ParseResult.well_formed``), else 0, in which case ``overall`` is the floor and the
    other sub-scores describe what the parser recovered. ``valid``: 1 when the response is also schema-conformant
    and every value an exact substring of the input (``ParseResult.valid``). ``coarse`` / ``fine``: the unscaled
    coarse and fine parts (see the module docstring). Units scored directly (``sfr_ner`` ...) count as well formed.
    """

    overall: float
    coverage: float
    fine_f1: float
    penalty: float
    format_ok: float
    valid: float
    coarse: float
    fine: float

    def as_dict(self) -> dict[str, float]:
        """The plain dict that EasyR1 and verl log key by key."""
        return dict(zip(SCORE_KEYS, self))


SCORE_KEYS: tuple[str, ...] = SFRScore._fields


class _Parts(NamedTuple):
    coverage: float
    fine_f1: float
    coarse_gain: float
    coarse_penalty: float
    fine_gain: float
    fine_penalty: float
    fine_penalty_in_sfr: float


# ------------------------------------------------------------------------------------------------ unit sets


def ner_sets(units: Units) -> tuple[frozenset, frozenset]:
    """(T, P) of NER units."""
    pairs = frozenset(units.entities)
    return frozenset(t for t, _ in pairs), pairs


def re_sets(units: Units) -> tuple[frozenset, frozenset, frozenset, frozenset]:
    """(T, H, A, R) of RE units."""
    triples = frozenset(units.relations)
    return (frozenset(t for t, _, _ in triples), frozenset((t, h) for t, h, _ in triples),
            frozenset((t, a) for t, _, a in triples), triples)


def ee_sets(units: Units) -> tuple[frozenset, frozenset, dict[str, list[frozenset]], int]:
    """(E, T, {event type: [trigger groups' (role, argument) sets]}, number of role-argument pairs)."""
    groups: dict[str, list[frozenset]] = {}
    pairs = 0
    for event in units.events:
        args = frozenset(event.arguments)
        pairs += len(args)
        if event.type in groups:
            groups[event.type].append(args)
        else:
            groups[event.type] = [args]
    return frozenset(groups), frozenset([(e.type, e.trigger) for e in units.events]), groups, pairs


def aligned_overlap(gold_groups: Mapping[str, list[frozenset]], gold_pairs: int,
                    pred_groups: Mapping[str, list[frozenset]], pred_pairs: int) -> Overlap:
    """Role-argument pair counts after aligning trigger groups within each event type (TP = matched overlap)."""
    common = 0
    for etype, pred in pred_groups.items():
        gold = gold_groups.get(etype)
        if not gold:
            continue
        if len(gold) == 1 and len(pred) == 1:  # the usual case: one trigger group of this type on each side
            common += len(gold[0] & pred[0])
        else:
            common += best_total(overlap_matrix(gold, pred))
    return Overlap(gold_pairs, pred_pairs, common)


# ---------------------------------------------------------------------------------------------- equations


def _ner_parts(gold: tuple, pred: tuple, w: NERWeights) -> _Parts:
    t, p = count(gold[0], pred[0]), count(gold[1], pred[1])
    fine_pen = w.lambda_p * p.delta
    return _Parts(t.coverage, p.f1, w.w_t * t.coverage, w.lambda_t * t.delta,
                  w.w_p * p.f1 ** w.gamma, fine_pen, fine_pen)


def _re_parts(gold: tuple, pred: tuple, w: REWeights) -> _Parts:
    t, h, a, r = count(gold[0], pred[0]), count(gold[1], pred[1]), count(gold[2], pred[2]), count(gold[3], pred[3])
    fine_pen = w.lambda_r * r.jaccard_distance
    fine_gain = w.w_h * h.f1 + w.w_a * a.f1 + w.w_r * r.f1 ** w.gamma
    return _Parts(t.coverage, r.f1, w.w_t * t.coverage, w.lambda_t * t.jaccard_distance, fine_gain, fine_pen,
                  fine_pen)


def _ee_parts(gold: tuple, pred: tuple, w: EEWeights) -> _Parts:
    e, t = count(gold[0], pred[0]), count(gold[1], pred[1])
    full = aligned_overlap(gold[2], gold[3], pred[2], pred[3]).f1
    delta_e, delta_t = e.delta, t.delta
    coarse_pen = w.lambda_E * delta_e if delta_e > 0 else w.lambda_T * delta_t if delta_t > 0 else 0.0
    fine_pen = w.lambda_F * (1.0 - full)
    coarse_gain = w.w_E * e.coverage + w.w_T * t.coverage
    return _Parts(coarse_gain / w.coarse_weight, full, coarse_gain, coarse_pen, w.w_F * full ** w.gamma,
                  fine_pen, fine_pen if delta_e == 0 and delta_t == 0 else 0.0)


_TASKS = {"ner": (ner_sets, _ner_parts), "re": (re_sets, _re_parts), "ee": (ee_sets, _ee_parts)}


def _overall(parts: _Parts, w: TaskWeights, variant: str, clip: bool) -> tuple[float, float]:
    """(reward, penalty) of a variant from the parts of one score."""
    total = w.coarse_weight + w.fine_weight
    if variant == "sfr":
        penalty = parts.coarse_penalty + parts.fine_penalty_in_sfr
        overall = parts.coarse_gain + parts.fine_gain - penalty
    elif variant == "coarse_only":
        penalty = parts.coarse_penalty
        overall = (parts.coarse_gain - penalty) * total / w.coarse_weight
    elif variant == "fine_only":
        penalty = parts.fine_penalty
        overall = (parts.fine_gain - penalty) * total / w.fine_weight
    else:
        raise ValueError(f"unknown SFR variant {variant!r}; expected sfr, coarse_only or fine_only")
    return (min(1.0, max(0.0, overall)) if clip else overall), penalty


def _score(task: str, gold_sets: tuple, pred: Units, w: TaskWeights, variant: str, clip: bool,
           format_ok: float = 1.0, valid: float = 1.0) -> SFRScore:
    """The score of ``pred`` against the gold unit sets of ``task`` (what every entry point ends in)."""
    to_sets, task_parts = _TASKS[task]
    parts = task_parts(gold_sets, to_sets(pred), w)
    overall, penalty = _overall(parts, w, variant, clip)
    if not format_ok:
        overall = floor(w, variant, clip)
    return SFRScore(overall, parts.coverage, parts.fine_f1, penalty, format_ok, valid,
                    parts.coarse_gain - parts.coarse_penalty, parts.fine_gain - parts.fine_penalty)


def floor(weights: TaskWeights, variant: str, clip: bool = False) -> float:
    """The reward of a response that is not the promised JSON object: that of an answer missing every unit of a
    non-empty gold (no gain; the coarse and fine mismatch penalties at 1, EE's piecewise penalty on its event
    branch), under the variant's combination and rescaling."""
    if isinstance(weights, NERWeights):
        coarse, fine, fine_in_sfr = weights.lambda_t, weights.lambda_p, weights.lambda_p
    elif isinstance(weights, REWeights):
        coarse, fine, fine_in_sfr = weights.lambda_t, weights.lambda_r, weights.lambda_r
    else:
        coarse, fine, fine_in_sfr = weights.lambda_E, weights.lambda_F, 0.0  # δ_E = 1 > 0: Eq. 9's event branch
    return _overall(_Parts(0.0, 0.0, 0.0, coarse, 0.0, fine, fine_in_sfr), weights, variant, clip)[0]


def _score_units(task: str, gold: Units, pred: Units, weights: Any, variant: str, clip: bool) -> SFRScore:
    if gold.task != task or pred.task != task:
        raise ValueError(f"sfr_{task} needs {task} units, got gold {gold.task!r} and prediction {pred.task!r}")
    return _score(task, _TASKS[task][0](gold), pred, weights, variant, clip)


def sfr_ner(gold: Units, pred: Units, weights: NERWeights, variant: str = "sfr", clip: bool = False) -> SFRScore:
    """Eq. 7: w_t cov(T) + w_p fl(P)^γ - λ_t Δ(T) - λ_p Δ(P)."""
    return _score_units("ner", gold, pred, weights, variant, clip)


def sfr_re(gold: Units, pred: Units, weights: REWeights, variant: str = "sfr", clip: bool = False) -> SFRScore:
    """Eq. 8: w_t cov(T) + w_h fl(H) + w_a fl(A) + w_r fl(R)^γ - λ_t Djac(T) - λ_r Djac(R)."""
    return _score_units("re", gold, pred, weights, variant, clip)


def sfr_ee(gold: Units, pred: Units, weights: EEWeights, variant: str = "sfr", clip: bool = False) -> SFRScore:
    """Eqs. 9-10: w_E cov(E) + w_T cov(T) + w_F F_full^γ - pen_ee, pen_ee piecewise coarse-to-fine."""
    return _score_units("ee", gold, pred, weights, variant, clip)


# -------------------------------------------------------------------------------------------- responses


@dataclass(frozen=True)
class Gold:
    """A record prepared once for scoring many responses: its schema and its gold unit sets."""

    task: str
    schema: Schema
    sets: tuple


def prepare_gold(record: Mapping[str, Any], where: str = "ground_truth") -> Gold:
    """Check a canonical record (the GRPO ``answer``) and precompute its gold unit sets.

    A malformed record is a data bug, not a model error, so it raises ``RecordError`` naming ``where``.
    """
    validate_record(record, where, check_spans=False)
    task = record["task"]
    return Gold(task, schema_of(record), _TASKS[task][0](gold_units(record)))


def score_response(response: Any, gold: Gold | Mapping[str, Any], config: SFRConfig) -> SFRScore:
    """The SFR of one model response against a record (or a prepared ``Gold``). Never raises on the response."""
    if not isinstance(gold, Gold):
        gold = prepare_gold(gold)
    parsed = parse_output(response, gold.schema, config.profile)
    return _score(gold.task, gold.sets, parsed.units, config.weights(gold.task), config.variant, config.clip,
                  1.0 if parsed.well_formed else 0.0, 1.0 if parsed.valid else 0.0)
