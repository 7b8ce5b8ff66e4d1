"""How values and parameter types read in text (kernel outputs, compare, version diffs, and the
server's ``dsp/diff`` document): floats at a sensible precision, KFP's types in plain words.

Shared by the kernel and the server (neither imports the other), so the panel and ``%dsp``
say the same thing.
"""

from __future__ import annotations

import json
import math
from typing import Any

#: significant digits a float is shown with (``0.09999999999999998`` -> ``0.1``)
DIGITS = 10

#: KFP's parameter types (``parameterType``) in the words of the Python a user writes
TYPE_WORDS = {
    "STRING": "str",
    "NUMBER_INTEGER": "int",
    "NUMBER_DOUBLE": "float",
    "BOOLEAN": "bool",
    "LIST": "list",
    "STRUCT": "dict",
    "TASK_FINAL_STATUS": "PipelineTaskFinalStatus",
}


def type_words(kfp_type: str) -> str:
    """``NUMBER_DOUBLE`` -> ``float``; an unknown type in lower case; ``""`` stays empty."""
    return TYPE_WORDS.get(kfp_type, kfp_type.lower())


def tidy_float(value: float) -> float:
    """``value`` rounded to :data:`DIGITS` significant digits (binary noise dropped)."""
    if not math.isfinite(value) or value == 0:
        return value
    return float(f"{value:.{DIGITS}g}")


def tidy(value: Any) -> Any:
    """``value`` with every float in it (also inside lists and dicts) tidied."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        return tidy_float(value)
    if isinstance(value, list | tuple):
        return [tidy(v) for v in value]
    if isinstance(value, dict):
        return {k: tidy(v) for k, v in value.items()}
    return value


def value_text(value: Any) -> str:
    """A value as text: strings as they are, the rest as JSON with tidy floats."""
    if isinstance(value, str):
        return value
    return json.dumps(tidy(value), default=str)


def quoted_text(value: Any) -> str:
    """As :func:`value_text`, strings quoted (``'abc'``) so a change to ``""`` shows."""
    return repr(value) if isinstance(value, str) else value_text(value)
