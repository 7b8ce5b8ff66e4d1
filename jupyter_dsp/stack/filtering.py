"""The ``filter`` parameter of KFP list calls: parsed into SQL predicates.

The filter is the proto JSON of ``kfp.api.v2beta1.Filter``::

    {"predicates": [{"key": "display_name", "operation": "EQUALS", "string_value": "x"}]}

Field names may be snake_case or lowerCamelCase (proto JSON accepts both), operations a name
or a number, int64 values a number or a string, timestamps RFC 3339. All predicates are AND-ed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote

from jupyter_dsp.stack.errors import invalid_argument

OPERATIONS: dict[int, str] = {
    1: "EQUALS",
    2: "NOT_EQUALS",
    3: "GREATER_THAN",
    5: "GREATER_THAN_EQUALS",
    6: "LESS_THAN",
    7: "LESS_THAN_EQUALS",
    8: "IN",
    9: "IS_SUBSTRING",
}
_SQL_OPERATOR = {
    "EQUALS": "=",
    "NOT_EQUALS": "!=",
    "GREATER_THAN": ">",
    "GREATER_THAN_EQUALS": ">=",
    "LESS_THAN": "<",
    "LESS_THAN_EQUALS": "<=",
}
_SCALAR_FIELDS = ("int_value", "long_value", "string_value", "timestamp_value")
_LIST_FIELDS = ("int_values", "long_values", "string_values")
_CAMEL = {
    "intValue": "int_value",
    "longValue": "long_value",
    "stringValue": "string_value",
    "timestampValue": "timestamp_value",
    "intValues": "int_values",
    "longValues": "long_values",
    "stringValues": "string_values",
}
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_PREDICATE_FIELDS = {"key", "operation", *_SCALAR_FIELDS, *_LIST_FIELDS}


# KFP tags (kubeflow/pipelines #12999): a listable with a "tags" field filters on "tags.<key>"
TAG_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$")
TAG_COLUMN = re.compile(
    r"""^ifnull\(json_extract\(tags, '\$\."[A-Za-z0-9][A-Za-z0-9._/-]{0,62}"'\), ''\)$"""
)


def tag_column(key: str) -> str:
    """The SQL expression of one tag's value, '' when absent (``key`` matches TAG_KEY)."""
    return f"ifnull(json_extract(tags, '$.\"{key}\"'), '')"


@dataclass(frozen=True)
class Column:
    """A filterable / sortable field: its SQL column and its kind ("string" or "int")."""

    column: str
    kind: str = "string"


@dataclass(frozen=True)
class Predicate:
    column: str
    operation: str
    value: Any  # a scalar, or a tuple for IN

    def to_sql(self) -> tuple[str, list[Any]]:
        if self.operation == "IN":
            if not self.value:
                return "0", []
            marks = ", ".join("?" for _ in self.value)
            return f"{self.column} IN ({marks})", list(self.value)
        if self.operation == "IS_SUBSTRING":
            return f"instr({self.column}, ?) > 0", [self.value]
        return f"{self.column} {_SQL_OPERATOR[self.operation]} ?", [self.value]

    def to_json(self) -> list[Any]:
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        return [self.column, self.operation, value]

    @classmethod
    def from_json(cls, data: Any) -> Predicate:
        column, operation, value = data
        if operation not in _SQL_OPERATOR and operation not in ("IN", "IS_SUBSTRING"):
            raise ValueError(f"unknown operation {operation!r}")
        if isinstance(value, list):
            value = tuple(value)
        items = value if isinstance(value, tuple) else (value,)
        if not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in items):
            raise ValueError("predicate values must be strings or integers")
        if any(isinstance(v, int) and not _INT64_MIN <= v <= _INT64_MAX for v in items):
            raise ValueError("integer out of range")
        return cls(str(column), str(operation), value)


def parse_filter(raw: str | None, fields: dict[str, Column]) -> list[Predicate]:
    """Parse a filter string; raises a 400 :class:`ApiError` saying what is wrong."""
    if raw is None or raw.strip() == "":
        return []
    raw = raw.strip()
    if not raw.startswith("{"):
        # KFP URL-decodes the (already decoded) parameter once more
        raw = unquote(raw)
    try:
        data = json.loads(raw)
    except ValueError as exc:
        reason = getattr(exc, "msg", str(exc))
        raise invalid_argument(f"Invalid filter: not valid JSON ({reason})") from None
    except RecursionError:
        raise invalid_argument("Invalid filter: nested too deeply") from None
    if not isinstance(data, dict):
        raise invalid_argument("Invalid filter: expected a JSON object with 'predicates'")
    unknown = set(data) - {"predicates"}
    if unknown:
        raise invalid_argument(f"Invalid filter: unknown field {sorted(unknown)[0]!r}")
    predicates = data.get("predicates") or []
    if not isinstance(predicates, list):
        raise invalid_argument("Invalid filter: 'predicates' must be a list")
    return [_parse_predicate(p, fields) for p in predicates]


def _parse_operation(raw: Any) -> str:
    if isinstance(raw, int) and not isinstance(raw, bool) and raw in OPERATIONS:
        return OPERATIONS[raw]
    if isinstance(raw, str) and raw in OPERATIONS.values():
        return raw
    if isinstance(raw, str) and raw.isdigit() and int(raw) in OPERATIONS:
        return OPERATIONS[int(raw)]
    raise invalid_argument(f"Invalid filter: unknown or missing operation {raw!r}")


def _snake_case(field: str) -> str:
    """A predicate field as KFP's proto JSON spells it (``intValue``) or its own name."""
    return _CAMEL.get(field, field)


def _parse_predicate(raw: Any, fields: dict[str, Column]) -> Predicate:
    if not isinstance(raw, dict):
        raise invalid_argument("Invalid filter: each predicate must be a JSON object")
    pred = {_snake_case(k): v for k, v in raw.items()}
    unknown = set(pred) - _PREDICATE_FIELDS
    if unknown:
        raise invalid_argument(f"Invalid filter: unknown predicate field {sorted(unknown)[0]!r}")
    key = pred.get("key")
    if not isinstance(key, str) or not key:
        raise invalid_argument("Invalid filter: a predicate has no key")
    if key not in fields and key.startswith("tags.") and "tags" in fields:
        if not TAG_KEY.match(key[5:]):
            raise invalid_argument(f"Invalid filter: {key!r} is not a valid tag key")
        fields = {**fields, key: Column(tag_column(key[5:]))}
    if key not in fields:
        allowed = ", ".join(sorted(fields))
        raise invalid_argument(f"Invalid filter: cannot filter on {key!r} (allowed: {allowed})")
    column = fields[key]
    operation = _parse_operation(pred.get("operation"))
    given = [f for f in (*_SCALAR_FIELDS, *_LIST_FIELDS) if f in pred]
    if len(given) != 1:
        raise invalid_argument(f"Invalid filter: predicate on {key!r} needs exactly one value")
    field = given[0]
    if operation == "IN":
        if field not in _LIST_FIELDS:
            raise invalid_argument(
                "Invalid filter: IN needs int_values, long_values or string_values"
            )
        values = pred[field].get("values", []) if isinstance(pred[field], dict) else None
        if not isinstance(values, list):
            raise invalid_argument(f"Invalid filter: {field} must be {{'values': [...]}}")
        return Predicate(column.column, operation, tuple(_coerce(v, field, column) for v in values))
    if field in _LIST_FIELDS:
        raise invalid_argument(f"Invalid filter: {field} is only valid with IN")
    value = _coerce(pred[field], field, column)
    if operation == "IS_SUBSTRING":
        if column.kind != "string":
            raise invalid_argument(
                f"Invalid filter: IS_SUBSTRING needs a string field, not {key!r}"
            )
        value = str(value)
    return Predicate(column.column, operation, value)


def _coerce(value: Any, field: str, column: Column) -> Any:
    if field.startswith("string"):
        if not isinstance(value, str):
            raise invalid_argument(f"Invalid filter: {field} must be a string")
        return value
    if field == "timestamp_value":
        return parse_timestamp(value)
    if isinstance(value, bool):
        raise invalid_argument(f"Invalid filter: {field} must be an integer")
    try:
        number = int(value) if isinstance(value, (int, str)) else None
    except ValueError:
        number = None
    if number is None:
        raise invalid_argument(f"Invalid filter: {field} must be an integer")
    return _in_int64(number)


def _in_int64(number: int) -> int:
    if not _INT64_MIN <= number <= _INT64_MAX:
        raise invalid_argument(f"Invalid filter: {number} is out of the int64 range")
    return number


def parse_timestamp(value: Any) -> int:
    """RFC 3339 (or {"seconds": N}) to seconds since the epoch."""
    if isinstance(value, dict) and "seconds" in value:
        try:
            return _in_int64(int(value["seconds"]))
        except (TypeError, ValueError, OverflowError):
            pass
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=timezone.utc)
            return int(moment.timestamp())
        except (ValueError, OverflowError):
            pass
    raise invalid_argument(f"Invalid filter: {value!r} is not an RFC 3339 timestamp")
