"""ML Metadata values as Python values, the way KFP writes and the KFP UI reads them."""

from __future__ import annotations

from typing import Any

# MLMD's last_known_state -> the KFP v2beta1 runtime state of a task.
_STATES = {
    "COMPLETE": "SUCCEEDED",
    "CACHED": "CACHED",
    "FAILED": "FAILED",
    "RUNNING": "RUNNING",
    "NEW": "PENDING",
    "CANCELED": "CANCELED",  # KFP also records "not triggered" (false condition) this way
    "UNKNOWN": "RUNTIME_STATE_UNSPECIFIED",
}
# Custom properties KFP adds to every artifact beside the step's metadata (its UI hides them).
HIDDEN_ARTIFACT_PROPERTIES = ("display_name", "store_session_info")


def task_state(mlmd_state: str) -> str:
    return _STATES.get(mlmd_state, mlmd_state)


def struct_to_python(value: Any) -> Any:
    """A ``google.protobuf.Value``/``Struct``/``ListValue`` as plain Python; numbers without a
    fraction become ints (protobuf keeps only doubles, and pipeline values are mostly ints)."""
    from google.protobuf import json_format  # type: ignore[import-untyped]

    return _ints(json_format.MessageToDict(value))


def _ints(obj: Any) -> Any:
    if isinstance(obj, float) and obj.is_integer() and abs(obj) < 2**53:
        return int(obj)
    if isinstance(obj, dict):
        return {k: _ints(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_ints(v) for v in obj]
    return obj


def python_value(value: Any) -> Any:
    """An MLMD ``Value`` (int, double, string, struct, bool) as Python."""
    kind = value.WhichOneof("value")
    if kind == "int_value":
        return int(value.int_value)
    if kind == "double_value":
        return float(value.double_value)
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return bool(value.bool_value)
    if kind == "struct_value":
        return struct_to_python(value.struct_value)
    return None


def parameters(props: Any, key: str) -> dict[str, Any]:
    """The ``inputs``/``outputs`` struct of an execution (parameter name -> value)."""
    if key not in props or props[key].WhichOneof("value") != "struct_value":
        return {}
    out = struct_to_python(props[key].struct_value)
    return out if isinstance(out, dict) else {}


def artifact_metadata(props: Any) -> dict[str, Any]:
    """An artifact's metadata as the step wrote it: KFP stores a number as a double, a bool as
    an int, and wraps a struct as ``{"struct": ...}`` and a list as ``{"list": ...}``
    (backend/src/v2/metadata/converter.go); those wrappers are removed here."""
    out: dict[str, Any] = {}
    for name, value in props.items():
        if name in HIDDEN_ARTIFACT_PROPERTIES:
            continue
        py = _ints(python_value(value))
        if isinstance(py, dict) and len(py) == 1 and ("struct" in py or "list" in py):
            py = next(iter(py.values()))
        out[name] = py
    return dict(sorted(out.items()))
