"""Run parameters checked against the pipeline's root input definitions.

Done before anything starts: an unknown name, a missing required value or a value of the
wrong type is a :class:`ParameterError` naming the parameter. Defaults are applied, so the
result is the complete set of values the run uses.
"""

from __future__ import annotations

import math
from typing import Any

# parameterType (KFP IR) and the older v1 `type` names.
_ALIASES = {
    "STRING": "STRING",
    "NUMBER_INTEGER": "NUMBER_INTEGER",
    "INT": "NUMBER_INTEGER",
    "NUMBER_DOUBLE": "NUMBER_DOUBLE",
    "DOUBLE": "NUMBER_DOUBLE",
    "BOOLEAN": "BOOLEAN",
    "LIST": "LIST",
    "STRUCT": "STRUCT",
    "TASK_FINAL_STATUS": "STRUCT",
}
_TYPE_WORDS = {
    "STRING": "a string",
    "NUMBER_INTEGER": "an integer",
    "NUMBER_DOUBLE": "a number",
    "BOOLEAN": "a boolean",
    "LIST": "a list",
    "STRUCT": "an object",
}


class ParameterError(ValueError):
    """A run parameter does not fit the pipeline (the message names it)."""

    def __init__(self, parameter: str, message: str) -> None:
        self.parameter = parameter
        super().__init__(message)


def _type_of(definition: dict[str, Any]) -> str | None:
    raw = definition.get("parameterType") or definition.get("type")
    if not isinstance(raw, str):
        return None
    return _ALIASES.get(raw.upper())


def _coerce(name: str, kind: str | None, value: Any) -> Any:
    """The value as the pipeline expects it, or ParameterError."""
    if kind is None or value is None:
        return value
    ok = False
    if kind == "STRING":
        ok = isinstance(value, str)
    elif kind == "BOOLEAN":
        ok = isinstance(value, bool)
    elif kind == "NUMBER_INTEGER":
        if isinstance(value, bool):
            ok = False
        elif isinstance(value, int):
            ok = True
        elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
            # JSON (protobuf Value) carries every number as a double.
            return int(value)
    elif kind == "NUMBER_DOUBLE":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok:
            return float(value)
    elif kind == "LIST":
        ok = isinstance(value, list)
    elif kind == "STRUCT":
        ok = isinstance(value, dict)
    if not ok:
        got = type(value).__name__
        raise ParameterError(
            name, f"parameter '{name}' must be {_TYPE_WORDS.get(kind, kind)}, got {got} {value!r}"
        )
    return value


def resolve_parameters(
    definitions: dict[str, dict[str, Any]], parameters: dict[str, Any] | None
) -> dict[str, Any]:
    """Check ``parameters`` against ``definitions``; return them with the defaults applied."""
    given = dict(parameters or {})
    for name in given:
        if name not in definitions:
            known = ", ".join(sorted(definitions)) or "none"
            raise ParameterError(
                name, f"unknown parameter '{name}': the pipeline's parameters are {known}"
            )
    resolved: dict[str, Any] = {}
    for name, definition in definitions.items():
        definition = definition if isinstance(definition, dict) else {}
        kind = _type_of(definition)
        if name in given:
            value = given[name]
            if (
                value is None
                and not definition.get("isOptional")
                and "defaultValue" not in definition
            ):
                raise ParameterError(name, f"parameter '{name}' is required and cannot be null")
            resolved[name] = _coerce(name, kind, value)
        elif "defaultValue" in definition:
            try:  # a default that went through protobuf is a double: 10 -> 10.0
                resolved[name] = _coerce(name, kind, definition["defaultValue"])
            except ParameterError:
                resolved[name] = definition["defaultValue"]
        elif definition.get("isOptional"):
            continue
        else:
            raise ParameterError(name, f"missing value for the required parameter '{name}'")
    return resolved
