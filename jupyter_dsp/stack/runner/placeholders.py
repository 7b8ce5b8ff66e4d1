"""KFP placeholders in a step's command and args, and in task input constants.

As the cluster's launcher does it, a command item may be:

- a string with ``{{$...}}`` placeholders inside (f-strings compile to that):
  ``{{$}}`` (the executor input as JSON), ``{{$.inputs.parameters['x']}}``,
  ``{{$.inputs.artifacts['x'].uri|path|metadata}}``, ``{{$.outputs.parameters['x'].output_file}}``,
  ``{{$.outputs.artifacts['x'].uri|path|metadata}}``, ``{{$.outputs_file}}`` and the pipeline
  placeholders (``{{$.pipeline_job_name}}``, ``{{$.pipeline_task_uuid}}``...);
- a JSON object ``{"Concat": [items]}`` (one string) or ``{"IfPresent": {"InputName": x,
  "Then": [items], "Else": [items]}}`` (zero or more items), nested as the compiler writes them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

_PLACEHOLDER = re.compile(r"\{\{\$(?:\.[^{}]*)?\}\}")
_INPUT_PARAM = re.compile(r"^\$\.inputs\.parameters\[(['\"])(.+?)\1\]$")
_ARTIFACT = re.compile(
    r"^\$\.(inputs|outputs)\.artifacts\[(['\"])(.+?)\2\](?:\.(uri|path|metadata)"
    r"(?:\[(['\"])(.+?)\5\])?)?$"
)
_OUTPUT_PARAM = re.compile(r"^\$\.outputs\.parameters\[(['\"])(.+?)\1\]\.output_file$")


class PlaceholderError(ValueError):
    """A placeholder the engine cannot fill (the message names it)."""


@dataclass
class PlaceholderContext:
    """What placeholders resolve to for one execution."""

    executor_input: dict[str, Any]
    pipeline: dict[str, str] = field(default_factory=dict)  # pipeline_job_name -> value ...


def value_text(value: Any) -> str:
    """A parameter value as a command-line string (the launcher's formatting)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _artifact_list(ctx: PlaceholderContext, side: str, name: str) -> list[dict[str, Any]]:
    artifacts = (ctx.executor_input.get(side) or {}).get("artifacts") or {}
    entry = artifacts.get(name)
    if entry is None:
        return []
    return list(entry.get("artifacts") or [])


def _one(expr: str, ctx: PlaceholderContext) -> str:
    inner = expr[2:-2]  # without {{ }}
    if inner == "$":
        return json.dumps(ctx.executor_input)
    if inner == "$.outputs_file" or inner == "$.outputs.output_file":
        return str((ctx.executor_input.get("outputs") or {}).get("outputFile", ""))
    if match := _INPUT_PARAM.match(inner):
        values = (ctx.executor_input.get("inputs") or {}).get("parameterValues") or {}
        name = match.group(2)
        if name not in values:
            raise PlaceholderError(f"input parameter '{name}' has no value for {expr}")
        return value_text(values[name])
    if match := _OUTPUT_PARAM.match(inner):
        params = (ctx.executor_input.get("outputs") or {}).get("parameters") or {}
        name = match.group(2)
        if name not in params:
            raise PlaceholderError(f"no output parameter '{name}' for {expr}")
        return str(params[name].get("outputFile", ""))
    if match := _ARTIFACT.match(inner):
        side, name, attr, key = match.group(1), match.group(3), match.group(4), match.group(6)
        items = _artifact_list(ctx, side, name)
        if not items:
            raise PlaceholderError(f"{side[:-1]} artifact '{name}' has no value for {expr}")
        if attr is None:
            return json.dumps(items)
        first = items[0]
        if attr in ("uri", "path"):
            return str(first.get("uri", ""))
        metadata = first.get("metadata") or {}
        return value_text(metadata.get(key)) if key else json.dumps(metadata)
    name = inner[2:] if inner.startswith("$.") else inner
    if name in ctx.pipeline:
        return ctx.pipeline[name]
    raise PlaceholderError(f"the placeholder {expr} is not supported by the embedded stack")


def fill(text: str, ctx: PlaceholderContext) -> str:
    """``text`` with every ``{{$...}}`` placeholder replaced."""
    if "{{$" not in text:
        return text
    return _PLACEHOLDER.sub(lambda m: _one(m.group(0), ctx), text)


def _present(ctx: PlaceholderContext, name: str) -> bool:
    inputs = ctx.executor_input.get("inputs") or {}
    if name in (inputs.get("parameterValues") or {}):
        return True
    return bool(((inputs.get("artifacts") or {}).get(name) or {}).get("artifacts"))


def _structured(item: str) -> Any:
    stripped = item.strip()
    if not (stripped.startswith("{") and ('"Concat"' in stripped or '"IfPresent"' in stripped)):
        return None
    try:
        value = json.loads(stripped)
    except ValueError:
        return None
    if isinstance(value, dict) and len(value) == 1 and ("Concat" in value or "IfPresent" in value):
        return value
    return None


def _expand(item: Any, ctx: PlaceholderContext) -> list[str]:
    if isinstance(item, str):
        structured = _structured(item)
        if structured is None:
            return [fill(item, ctx)]
        item = structured
    if isinstance(item, dict) and "Concat" in item:
        return ["".join("".join(_expand(part, ctx)) for part in item["Concat"] or [])]
    if isinstance(item, dict) and "IfPresent" in item:
        spec = item["IfPresent"] or {}
        branch = spec.get("Then") if _present(ctx, str(spec.get("InputName"))) else spec.get("Else")
        if branch is None:
            return []
        branch = branch if isinstance(branch, list) else [branch]
        return [out for part in branch for out in _expand(part, ctx)]
    if isinstance(item, list):
        return [out for part in item for out in _expand(part, ctx)]
    return [value_text(item)]


def resolve_command(items: list[Any], ctx: PlaceholderContext) -> list[str]:
    """A step's ``command + args`` with every placeholder resolved."""
    return [out for item in items for out in _expand(item, ctx)]
