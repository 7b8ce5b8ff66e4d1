"""Resolving a task's inputs and a DAG's outputs, as the cluster's driver does.

Task inputs (``tasks.<t>.inputs``) come from the enclosing DAG's inputs
(``componentInputParameter`` / ``componentInputArtifact``), a sibling's outputs
(``taskOutputParameter`` / ``taskOutputArtifact``), a constant (``runtimeValue``, whose
``{{$...}}`` placeholders are filled once the other inputs are known) or a sibling's final
status (``taskFinalStatus``); ``parameterExpressionSelector`` picks a field of the value.
A DAG's outputs name a subtask's output (``valueFromParameter``, ``artifactSelectors``) or
the first of several that exists (``valueFromOneof``: ``dsl.OneOf``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from jupyter_dsp.stack.runner.model import CANCELED, FAILED, SKIPPED
from jupyter_dsp.stack.runner.placeholders import PlaceholderContext, PlaceholderError, fill


class InputError(ValueError):
    """An input of a task has no value (the message names it)."""


@dataclass
class Outputs:
    parameters: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


@dataclass
class Result:
    """What a finished task left for the tasks after it."""

    state: str
    outputs: Outputs = field(default_factory=Outputs)
    error: str = ""
    name: str = ""  # the task's key in its DAG


@dataclass
class Scope:
    """The inputs of the DAG being walked."""

    parameters: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


_SELECTOR = re.compile(r"""^parseJson\(string_value\)\[(['"])(.*?)\1\]$""")


def select(value: Any, expression: str) -> Any:
    """Apply a ``parameterExpressionSelector`` (the compiler writes ``parseJson(string_value)
    ["field"]`` for loop-item fields)."""
    if not expression:
        return value
    parsed = value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            raise InputError(f"cannot parse {value!r} as JSON for {expression}") from None
    if expression == "parseJson(string_value)":
        return parsed
    match = _SELECTOR.match(expression)
    if not match or not isinstance(parsed, dict):
        raise InputError(f"cannot apply {expression} to {value!r}")
    if match.group(2) not in parsed:
        raise InputError(f"{value!r} has no field '{match.group(2)}'")
    return parsed[match.group(2)]


_STATUS = {FAILED: "FAILED", CANCELED: "CANCELED", SKIPPED: "SKIPPED"}


def final_status(result: Result | None, job_resource_name: str, producer: str) -> dict:
    """A ``PipelineTaskFinalStatus`` struct (states as the cluster's driver writes them)."""
    state = "FAILED" if result is None else _STATUS.get(result.state, "COMPLETE")
    status: dict[str, Any] = {
        "state": state,
        "pipelineJobResourceName": job_resource_name,
        "pipelineTaskName": producer,
    }
    if state != "COMPLETE":
        status["error"] = {"code": 2, "message": (result.error if result else "") or state}
    return status


def _producer_output(results: dict[str, Result], producer: str, kind: str, key: str) -> Any:
    result = results.get(producer)
    if result is None:
        raise InputError(f"task '{producer}' has not run")
    bucket = result.outputs.parameters if kind == "parameter" else result.outputs.artifacts
    if key not in bucket:
        why = {SKIPPED: "was skipped", FAILED: "failed", CANCELED: "was canceled"}.get(
            result.state, "did not produce it"
        )
        raise InputError(f"output '{key}' of task '{producer}' is missing: the task {why}")
    return bucket[key]


def resolve_task_inputs(
    task: dict[str, Any],
    scope: Scope,
    results: dict[str, Result],
    placeholders: PlaceholderContext,
    job_resource_name: str,
) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]], dict[str, str]]:
    """``(parameters, artifacts, missing)``: values of the task's inputs, and for each input
    that has none, why (the caller decides whether a default covers it)."""
    spec_inputs = task.get("inputs") or {}
    params: dict[str, Any] = {}
    missing: dict[str, str] = {}
    constants: dict[str, str] = {}
    for name, source in (spec_inputs.get("parameters") or {}).items():
        try:
            if "componentInputParameter" in source:
                ref = source["componentInputParameter"]
                if ref not in scope.parameters:
                    raise InputError(f"the pipeline input '{ref}' has no value")
                value = scope.parameters[ref]
            elif "taskOutputParameter" in source:
                out = source["taskOutputParameter"]
                value = _producer_output(
                    results, out["producerTask"], "parameter", out["outputParameterKey"]
                )
            elif "runtimeValue" in source:
                value = (source["runtimeValue"] or {}).get("constant")
                if isinstance(value, str) and "{{$" in value:
                    constants[name] = value
                    continue
            elif "taskFinalStatus" in source:
                producer = source["taskFinalStatus"]["producerTask"]
                value = final_status(results.get(producer), job_resource_name, producer)
            else:
                raise InputError(f"input '{name}' has a source the engine does not know")
            params[name] = select(value, source.get("parameterExpressionSelector", ""))
        except InputError as exc:
            missing[name] = str(exc)
    if constants:
        ctx = PlaceholderContext({"inputs": {"parameterValues": params}}, placeholders.pipeline)
        for name, text in constants.items():
            try:
                params[name] = fill(text, ctx)
            except PlaceholderError as exc:
                missing[name] = str(exc)
    artifacts: dict[str, list[dict[str, Any]]] = {}
    for name, source in (spec_inputs.get("artifacts") or {}).items():
        try:
            if "componentInputArtifact" in source:
                ref = source["componentInputArtifact"]
                if not scope.artifacts.get(ref):
                    raise InputError(f"the input artifact '{ref}' has no value")
                artifacts[name] = list(scope.artifacts[ref])
            elif "taskOutputArtifact" in source:
                out = source["taskOutputArtifact"]
                artifacts[name] = list(
                    _producer_output(
                        results, out["producerTask"], "artifact", out["outputArtifactKey"]
                    )
                )
            else:
                raise InputError(f"input artifact '{name}' has a source the engine does not know")
        except InputError as exc:
            missing[name] = str(exc)
    return params, artifacts, missing


def producers(task: dict[str, Any]) -> set[str]:
    """Sibling tasks this task must wait for (``dependentTasks`` and every task whose output
    or final status it reads)."""
    found = set(task.get("dependentTasks") or [])
    spec_inputs = task.get("inputs") or {}
    for source in (spec_inputs.get("parameters") or {}).values():
        for key in ("taskOutputParameter", "taskFinalStatus"):
            if key in source:
                found.add(source[key]["producerTask"])
    for source in (spec_inputs.get("artifacts") or {}).values():
        if "taskOutputArtifact" in source:
            found.add(source["taskOutputArtifact"]["producerTask"])
    return found


def apply_defaults(
    component: dict[str, Any],
    params: dict[str, Any],
    artifacts: dict[str, list[dict[str, Any]]],
    missing: dict[str, str],
) -> None:
    """Fill inputs without a value from the component's defaults; an input that is neither
    given, defaulted nor optional raises :class:`InputError`."""
    definitions = component.get("inputDefinitions") or {}
    for name, spec in (definitions.get("parameters") or {}).items():
        if name in params:
            continue
        if spec.get("parameterType") == "TASK_FINAL_STATUS":
            # no task to report on (a status component run as a pipeline): the run's own
            params[name] = {
                "state": "RUNNING",
                "pipelineJobResourceName": "",
                "pipelineTaskName": "",
            }
        elif "defaultValue" in spec:
            params[name] = spec["defaultValue"]
        elif not spec.get("isOptional"):
            raise InputError(missing.get(name) or f"input '{name}' has no value")
    for name, spec in (definitions.get("artifacts") or {}).items():
        if name not in artifacts and not spec.get("isOptional"):
            raise InputError(missing.get(name) or f"input artifact '{name}' has no value")


def dag_outputs(component: dict[str, Any], results: dict[str, Result]) -> Outputs:
    """A DAG's outputs from its subtasks' (absent when the subtask did not produce them)."""
    spec = (component.get("dag") or {}).get("outputs") or {}
    outputs = Outputs()
    for name, source in (spec.get("parameters") or {}).items():
        selectors = []
        if "valueFromParameter" in source:
            selectors = [source["valueFromParameter"]]
        elif "valueFromOneof" in source:
            selectors = source["valueFromOneof"].get("parameterSelectors") or []
        for sel in selectors:
            result = results.get(sel.get("producerSubtask", ""))
            key = sel.get("outputParameterKey", "")
            if result is not None and key in result.outputs.parameters:
                outputs.parameters[name] = result.outputs.parameters[key]
                break
    for name, source in (spec.get("artifacts") or {}).items():
        for sel in source.get("artifactSelectors") or []:
            result = results.get(sel.get("producerSubtask", ""))
            key = sel.get("outputArtifactKey", "")
            if result is not None and key in result.outputs.artifacts:
                outputs.artifacts[name] = list(result.outputs.artifacts[key])
                break
    return outputs
