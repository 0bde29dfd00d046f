"""The output format, both directions: prompts and targets (render) and model output back to units (parse).

This package is the only code that builds or splits target strings; converters, rewards and eval import it, by
the names below (``from converters.format import parse_output``). Its modules hold one job each:

- ``profiles``: the separators of a target, the value separator of each profile, the two styles (CM, SA);
- ``render``: prompts (paper Figures 4-8) and targets;
- ``parse``: a model output read back into units with a verdict, and the round-trip check of a record.
"""

from converters.format.parse import MAX_SEGMENT_TOKENS, ParseResult, parse_output, round_trips, set_view
from converters.format.profiles import (
    ARG_SEP,
    CONCISE,
    PAIR_SEP,
    PROFILES,
    ROLE_SEP,
    STYLES,
    Profile,
    get_profile,
)
from converters.format.render import prompt_parts, render_prompt, render_target, render_units, target_order

__all__ = [
    "ARG_SEP", "CONCISE", "MAX_SEGMENT_TOKENS", "PAIR_SEP", "PROFILES", "ROLE_SEP", "STYLES", "ParseResult",
    "Profile", "get_profile", "parse_output", "prompt_parts", "render_prompt", "render_target", "render_units",
    "round_trips", "set_view", "target_order",
]
