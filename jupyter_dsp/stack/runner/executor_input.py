"""The ``ExecutorInput`` a step receives and the outputs it leaves behind.

A step runs as KFP's launcher runs it on a cluster: it gets an ``ExecutorInput`` message
(proto JSON: ``inputs.parameterValues``, ``inputs.artifacts``, ``outputs.parameters`` with
their ``outputFile``, ``outputs.artifacts`` with their URIs, ``outputs.outputFile``) and
reports through the executor output file (``parameterValues``, ``artifacts``) and, for
container components, one file per output parameter. Local artifact URIs are paths.

Artifacts are handled as ``{"name", "uri", "schema_title", "schema_version", "metadata"}``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jupyter_dsp.stack.runner import nofollow
from jupyter_dsp.stack.runner.run_context import current_run

EXECUTOR_OUTPUT = "executor_output.json"
OUTPUTS_DIR = ".outputs"


def whole_numbers_as_int(value: Any) -> Any:
    """Whole doubles inside lists and structs as ints, as the Go driver writes them (protojson
    prints 2.0 as ``2``; a step typed ``List[int]`` would otherwise get floats)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [whole_numbers_as_int(v) for v in value]
    if isinstance(value, dict):
        return {k: whole_numbers_as_int(v) for k, v in value.items()}
    return value


def typed(value: Any, parameter_type: str) -> Any:
    """A parameter value as its declared type expects it."""
    if parameter_type == "NUMBER_INTEGER" and isinstance(value, float) and value.is_integer():
        return int(value)
    if parameter_type in ("LIST", "STRUCT") and isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        return parsed
    if parameter_type in ("LIST", "STRUCT"):
        return whole_numbers_as_int(value)
    return value


def runtime_artifact(artifact: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": artifact.get("name", ""),
        "type": {
            "schemaTitle": artifact.get("schema_title") or "system.Artifact",
            "schemaVersion": artifact.get("schema_version") or "0.0.1",
        },
        "uri": artifact.get("uri", ""),
        "metadata": artifact.get("metadata") or {},
    }


def output_artifacts_for(component: dict[str, Any], task_root: Path) -> dict[str, list[dict]]:
    """The artifacts a step is asked to write (one per output, under ``task_root``)."""
    outputs = (component.get("outputDefinitions") or {}).get("artifacts") or {}
    result: dict[str, list[dict[str, Any]]] = {}
    for name, spec in outputs.items():
        schema = spec.get("artifactType") or {}
        result[name] = [
            {
                "name": name,
                "uri": str(task_root / name),
                "schema_title": schema.get("schemaTitle") or "system.Artifact",
                "schema_version": schema.get("schemaVersion") or "0.0.1",
                "metadata": {},
            }
        ]
    return result


def build(
    component: dict[str, Any],
    parameters: dict[str, Any],
    artifacts: dict[str, list[dict[str, Any]]],
    task_root: Path,
) -> dict[str, Any]:
    """The ExecutorInput (as JSON) for one execution of ``component``."""
    definitions = component.get("inputDefinitions") or {}
    param_defs = definitions.get("parameters") or {}
    values = {
        name: typed(value, (param_defs.get(name) or {}).get("parameterType", ""))
        for name, value in parameters.items()
        if value is not None or name in param_defs
    }
    inputs: dict[str, Any] = {"parameterValues": values}
    given = {n: a for n, a in artifacts.items() if a}
    if given:
        inputs["artifacts"] = {
            name: {"artifacts": [runtime_artifact(a) for a in items]}
            for name, items in given.items()
        }
    out_defs = (component.get("outputDefinitions") or {}).get("parameters") or {}
    outputs: dict[str, Any] = {
        "parameters": {
            name: {"outputFile": str(task_root / OUTPUTS_DIR / name)} for name in out_defs
        },
        "artifacts": {
            name: {"artifacts": [runtime_artifact(a) for a in items]}
            for name, items in output_artifacts_for(component, task_root).items()
        },
        "outputFile": str(task_root / EXECUTOR_OUTPUT),
    }
    if not outputs["parameters"]:
        del outputs["parameters"]
    if not outputs["artifacts"]:
        del outputs["artifacts"]
    return {"inputs": inputs, "outputs": outputs}


def _parse_file_value(text: str, parameter_type: str) -> Any:
    if parameter_type == "STRING" or not parameter_type:
        return text
    if parameter_type == "BOOLEAN":
        return text.strip().lower() == "true"
    if parameter_type == "NUMBER_INTEGER":
        return int(float(text.strip()))
    if parameter_type == "NUMBER_DOUBLE":
        return float(text.strip())
    return json.loads(text)


def read_outputs(
    component: dict[str, Any],
    executor_input: dict[str, Any],
    outside: Callable[[str], str] = str,
) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """The outputs a finished step reported: ``(parameters, artifacts)``.

    Raises ``ValueError`` when a declared output parameter is missing or unreadable.
    """
    outputs = executor_input.get("outputs") or {}
    written: dict[str, Any] = {}
    path = Path(outputs.get("outputFile", ""))
    text = _read_step_file(path)
    if text is not None:
        written = json.loads(text) if text.strip() else {}
    out_defs = (component.get("outputDefinitions") or {}).get("parameters") or {}
    params: dict[str, Any] = {}
    reported = written.get("parameterValues") or {}
    for name, spec in out_defs.items():
        kind = spec.get("parameterType", "")
        if name in reported:
            params[name] = typed(reported[name], kind)
            continue
        file = Path(((outputs.get("parameters") or {}).get(name) or {}).get("outputFile", ""))
        value = _read_step_file(file)
        if value is not None:
            try:
                params[name] = typed(_parse_file_value(value, kind), kind)
            except ValueError as exc:
                raise ValueError(f"output parameter '{name}' cannot be read: {exc}") from None
        elif not spec.get("isOptional"):
            raise ValueError(f"the step did not write its output parameter '{name}'")
    return params, read_output_artifacts(component, executor_input, outside, written)


def read_output_artifacts(
    component: dict[str, Any],
    executor_input: dict[str, Any],
    outside: Callable[[str], str] = str,
    written: dict[str, Any] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """The output artifacts a step reported (``written``: its executor output, if read)."""
    outputs = executor_input.get("outputs") or {}
    task_root = Path(outputs.get("outputFile", "")).parent
    if written is None:
        text = _read_step_file(Path(outputs.get("outputFile", "")))
        written = json.loads(text) if text and text.strip() else {}
    artifacts: dict[str, list[dict[str, Any]]] = {}
    reported_artifacts = written.get("artifacts") or {}
    for name, entry in (outputs.get("artifacts") or {}).items():
        given = (entry.get("artifacts") or [{}])[0]
        items = (reported_artifacts.get(name) or {}).get("artifacts") or [given]
        result = []
        for item in items:
            uri = item.get("uri") or given.get("uri", "")
            if _is_local(uri) and not nofollow.is_within(_local(uri), task_root):
                uri = given.get("uri", "")  # a local URI outside the step's own outputs
            custom = item.get("custom_path") or item.get("customPath")
            if custom and custom != uri and _is_local(uri):
                _copy_as_step(outside(custom), _local(uri))
            result.append(
                {
                    "name": item.get("name") or name,
                    "uri": uri,
                    "schema_title": given["type"]["schemaTitle"],
                    "schema_version": given["type"].get("schemaVersion", "0.0.1"),
                    "metadata": item.get("metadata") or given.get("metadata") or {},
                }
            )
        artifacts[name] = result
    return artifacts


STEP_FILE_LIMIT = 64 * 1024 * 1024  # an output file the stack reads back


def _is_local(uri: str) -> bool:
    return uri.startswith(("/", "file://"))


def _local(uri: str) -> str:
    return os.path.normpath(uri.removeprefix("file://"))


def _read_step_file(path: Path) -> str | None:
    """A file the step wrote (None when absent), read as the step could: no link followed,
    only what the step's user may read. A link or a file the step could not read raises."""
    if not str(path) or str(path) == ".":
        return None
    run = current_run()
    try:
        fd = nofollow.open_file(
            os.path.abspath(path),
            run.uid if run else None,
            base=str(run.run_dir) if run else None,
        )
    except nofollow.UnsafePath as exc:
        if "no such file" in str(exc):
            return None
        raise ValueError(f"an output file of the step cannot be read: {exc}") from None
    with nofollow.closing_fd(fd):
        if os.fstat(fd).st_size > STEP_FILE_LIMIT:
            raise ValueError(f"an output file of the step is larger than {STEP_FILE_LIMIT} bytes")
        return b"".join(nofollow.read_range(fd, 0, STEP_FILE_LIMIT)).decode("utf-8", "replace")


def _copy_as_step(source: str, target: str) -> None:
    """Copy an artifact the step wrote elsewhere (its ``custom_path``) to its URI, reading
    only what the step's user could, following no link."""
    run = current_run()
    try:
        nofollow.copy_path(
            os.path.abspath(source),
            target,
            nofollow.Budget(64 * 1024**3),
            f"the artifact at '{source}'",
            nofollow.LINKS_REFUSE,
            run.uid if run else None,
            source_base=str(run.run_dir) if run else None,
        )
    except nofollow.UnsafePath as exc:
        if "no such file" in str(exc):
            return
        raise ValueError(str(exc)) from None
