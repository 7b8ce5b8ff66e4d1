"""Root parameters of a compiled pipeline and conversion of user values to their types."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jupyter_dsp.client.errors import ArgumentError

STRING = "STRING"
INTEGER = "NUMBER_INTEGER"
DOUBLE = "NUMBER_DOUBLE"
BOOLEAN = "BOOLEAN"
LIST = "LIST"
STRUCT = "STRUCT"

# Older IR files spell the types differently.
_ALIASES = {"INT": INTEGER, "DOUBLE": DOUBLE, "STRING": STRING, "BOOL": BOOLEAN}
_TYPE_LABEL = {
    STRING: "string",
    INTEGER: "int",
    DOUBLE: "float",
    BOOLEAN: "bool",
    LIST: "JSON list",
    STRUCT: "JSON object",
}
_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}
_MISSING = object()


@dataclass(frozen=True)
class Parameter:
    """One root input parameter of a pipeline."""

    name: str
    type: str
    default: Any = _MISSING
    optional: bool = False
    description: str = ""

    @property
    def has_default(self) -> bool:
        return self.default is not _MISSING

    @property
    def required(self) -> bool:
        return not self.optional and not self.has_default

    @property
    def type_label(self) -> str:
        return _TYPE_LABEL.get(self.type, self.type.lower())

    def describe(self) -> str:
        text = f"{self.name}: {self.type_label}"
        if self.has_default:
            text += f" = {json.dumps(self.default)}"
        elif self.required:
            text += " (required)"
        return text


def root_parameters(spec: Mapping[str, Any]) -> dict[str, Parameter]:
    """The root input parameters of a pipeline spec (IR dict), in declaration order."""
    if "pipeline_spec" in spec and "root" not in spec:
        spec = spec["pipeline_spec"]
    definitions = (spec.get("root") or {}).get("inputDefinitions") or {}
    result: dict[str, Parameter] = {}
    for name, entry in (definitions.get("parameters") or {}).items():
        raw_type = entry.get("parameterType") or entry.get("type") or STRING
        ptype = _ALIASES.get(raw_type, raw_type)
        default = entry.get("defaultValue", _MISSING)
        if ptype == INTEGER and isinstance(default, float) and default.is_integer():
            default = int(default)  # IR numbers are doubles
        result[name] = Parameter(
            name=name,
            type=ptype,
            default=default,
            optional=bool(entry.get("isOptional", False)),
            description=str(entry.get("description") or ""),
        )
    return result


def parse_assignments(items: list[str] | None) -> dict[str, str]:
    """``["a=1", "b=x y"]`` → ``{"a": "1", "b": "x y"}``; the first ``=`` splits."""
    result: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ArgumentError(
                f"Parameter {item!r} is not NAME=VALUE: write it as -p {item or 'name'}=value."
            )
        result[name] = value
    return result


def _bad(param: Parameter, value: Any, why: str = "") -> ArgumentError:
    detail = f" ({why})" if why else ""
    return ArgumentError(
        f"Parameter {param.name!r} expects {param.type_label}, got {value!r}{detail}.",
        parameter=param.name,
    )


def coerce(param: Parameter, value: Any) -> Any:
    """Convert ``value`` (a string from a command line or form, or a Python value)."""
    ptype = param.type
    if ptype == STRING:
        if isinstance(value, str):
            return value
        if isinstance(value, bool | int | float):
            return str(value)
        raise _bad(param, value)
    if ptype == INTEGER:
        if isinstance(value, bool):
            raise _bad(param, value)
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip().replace("_", ""), 10)
            except ValueError:
                raise _bad(param, value) from None
        raise _bad(param, value)
    if ptype == DOUBLE:
        if isinstance(value, bool):
            raise _bad(param, value)
        if isinstance(value, int | float):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                raise _bad(param, value) from None
        else:
            raise _bad(param, value)
        if not math.isfinite(number):
            raise _bad(param, value, "must be finite")
        return number
    if ptype == BOOLEAN:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise _bad(param, value, "use true or false")
    if ptype in (LIST, STRUCT):
        wanted = list if ptype == LIST else dict
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise _bad(param, value, f"not JSON: {exc.msg}") from None
        if isinstance(value, tuple) and wanted is list:
            value = list(value)
        if not isinstance(value, wanted):
            raise _bad(param, value)
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            raise _bad(param, value, "not JSON-serialisable") from None
        return value
    # Types we do not know (e.g. TASK_FINAL_STATUS) are passed through untouched.
    return value


def check_arguments(
    parameters: Mapping[str, Parameter], arguments: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Validate and convert ``arguments`` against ``parameters`` before anything is submitted."""
    arguments = dict(arguments or {})
    unknown = sorted(set(arguments) - set(parameters))
    if unknown:
        declared = ", ".join(p.describe() for p in parameters.values()) or "none"
        raise ArgumentError(
            f"Unknown parameter {unknown[0]!r}; the pipeline declares: {declared}.",
            parameter=unknown[0],
        )
    result = {name: coerce(parameters[name], value) for name, value in arguments.items()}
    missing = [p for p in parameters.values() if p.required and p.name not in result]
    if missing:
        names = ", ".join(p.describe() for p in missing)
        raise ArgumentError(
            f"Missing required parameter {missing[0].name!r}: give {names} (-p name=value).",
            parameter=missing[0].name,
        )
    return result
