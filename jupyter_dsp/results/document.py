"""The results document of a run (CONTRACTS.md), assembled from what the embedded stack serves.

Shared by the server extension and the kernel (pure functions, no I/O):

- :func:`document_from_stack` takes the stack's ``v2beta1Run`` (``GET /runs/{id}``) and the
  run's tasks in KFP master's ``PipelineTaskDetail`` shape (``GET /tasks?run_id=``, all pages)
  and returns the document (``source: "stack"``). Pipeline outputs are resolved as KFP does,
  from the pipeline spec's ``root.dag.outputs`` selectors to the root-level producer tasks.
- :func:`unavailable_document` is the document of a run whose results cannot be read (the
  reason in ``unavailable``, a UI link when known).
- :func:`find_artifact` and :func:`iter_artifacts` look artifacts up in a document.

On a cluster, :class:`jupyter_dsp.results.mlmd.reader.MLMDReader` produces the same document from
ML Metadata (``source: "mlmd"``).

The stack paths, relative to ``/apis/v2beta1``: :data:`TASKS_PATH`, :data:`CONTENT_PATH`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

TASKS_PATH = "/tasks"  # ?run_id=...&page_size=...&page_token=...
CONTENT_PATH = "/artifacts/{artifact_id}/content"
TASKS_PAGE_SIZE = 1000  # the stack's largest tasks page
MAX_TASK_PAGES = 500  # 100 000 tasks: a bound on a misbehaving server


def artifact_doc(artifact: dict[str, Any]) -> dict[str, Any]:
    """A stack ``Artifact`` as the document's Artifact."""
    size = artifact.get("size")
    return {
        "artifact_id": str(artifact.get("artifact_id") or ""),
        "name": str(artifact.get("name") or ""),
        "type": str(artifact.get("schema_title") or artifact.get("type") or ""),
        "uri": str(artifact.get("uri") or ""),
        "metadata": dict(artifact.get("metadata") or {}),
        "size": int(size) if isinstance(size, (int, str)) and str(size).isdigit() else None,
    }


def _side(io: dict[str, Any] | None) -> dict[str, Any]:
    io = io or {}
    params = {
        str(p.get("parameter_key")): p.get("value")
        for p in io.get("parameters") or []
        if p.get("parameter_key") is not None
    }
    artifacts: dict[str, list[dict[str, Any]]] = {}
    for group in io.get("artifacts") or []:
        key = str(group.get("artifact_key") or "")
        for artifact in group.get("artifacts") or []:
            artifacts.setdefault(key, []).append(artifact_doc(artifact))
    return {"parameters": params, "artifacts": artifacts}


def _iteration(task: dict[str, Any]) -> int | None:
    raw = (task.get("type_attributes") or {}).get("iteration_index")
    try:
        return int(raw) if raw is not None and raw != "" else None
    except (TypeError, ValueError):
        return None


def task_doc(task: dict[str, Any]) -> dict[str, Any]:
    state = str(task.get("state") or "")
    return {
        "task_id": str(task.get("task_id") or ""),
        "name": str(task.get("name") or task.get("display_name") or ""),
        "display_name": str(task.get("display_name") or task.get("name") or ""),
        "state": state,
        "parent_task_id": str(task.get("parent_task_id") or ""),
        "iteration_index": _iteration(task),
        "cached": state == "CACHED",
        "inputs": _side(task.get("inputs")),
        "outputs": _side(task.get("outputs")),
    }


def _get(data: dict[str, Any], camel: str, snake: str) -> Any:
    return data.get(camel, data.get(snake))


def pipeline_outputs(spec: dict[str, Any] | None, tasks: list[dict[str, Any]]) -> dict[str, Any]:
    """The run's outputs: ``root.dag.outputs`` of the spec resolved against root-level tasks."""
    result: dict[str, Any] = {"parameters": {}, "artifacts": {}}
    if not isinstance(spec, dict):
        return result
    if "root" not in spec and isinstance(spec.get("pipeline_spec"), dict):
        spec = spec["pipeline_spec"]  # a spec bundled with its platform spec
    root = spec.get("root") or {}
    outputs = (root.get("dag") or {}).get("outputs") or {}
    top = {t["name"]: t for t in tasks if not t["parent_task_id"]}
    for name, selector in (outputs.get("parameters") or {}).items():
        source = _get(selector, "valueFromParameter", "value_from_parameter") or {}
        producer = top.get(str(_get(source, "producerSubtask", "producer_subtask") or ""))
        key = str(_get(source, "outputParameterKey", "output_parameter_key") or "")
        if producer is not None and key in producer["outputs"]["parameters"]:
            result["parameters"][name] = producer["outputs"]["parameters"][key]
    for name, selectors in (outputs.get("artifacts") or {}).items():
        found: list[dict[str, Any]] = []
        for sel in _get(selectors, "artifactSelectors", "artifact_selectors") or []:
            producer = top.get(str(_get(sel, "producerSubtask", "producer_subtask") or ""))
            key = str(_get(sel, "outputArtifactKey", "output_artifact_key") or "")
            if producer is not None:
                found.extend(producer["outputs"]["artifacts"].get(key, []))
        if found:
            result["artifacts"][name] = found
    return result


def document_from_stack(
    run: dict[str, Any], tasks: list[dict[str, Any]], ui_url: str | None = None
) -> dict[str, Any]:
    """The results document of a run of the embedded stack."""
    docs = [task_doc(t) for t in tasks]
    return {
        "run_id": str(run.get("run_id") or ""),
        "state": str(run.get("state") or ""),
        "source": "stack",
        "ui_url": ui_url,
        "unavailable": None,
        "pipeline_outputs": pipeline_outputs(run.get("pipeline_spec"), docs),
        "tasks": docs,
    }


def unavailable_document(
    run_id: str, state: str, source: str, reason: str, ui_url: str | None = None
) -> dict[str, Any]:
    """A document with no results and the reason why."""
    return {
        "run_id": run_id,
        "state": state,
        "source": source,
        "ui_url": ui_url,
        "unavailable": reason,
        "pipeline_outputs": {"parameters": {}, "artifacts": {}},
        "tasks": [],
    }


def iter_artifacts(doc: dict[str, Any]) -> Iterator[tuple[dict[str, Any] | None, str, dict]]:
    """(task or None for pipeline outputs, side, artifact) for every artifact in ``doc``."""
    for artifacts in (doc.get("pipeline_outputs") or {}).get("artifacts", {}).values():
        for artifact in artifacts:
            yield None, "outputs", artifact
    for task in doc.get("tasks") or []:
        for side in ("outputs", "inputs"):
            for artifacts in task[side]["artifacts"].values():
                for artifact in artifacts:
                    yield task, side, artifact


def find_artifact(doc: dict[str, Any], artifact_id: str) -> dict[str, Any] | None:
    for _task, _side_name, artifact in iter_artifacts(doc):
        if artifact.get("artifact_id") == artifact_id:
            return artifact
    return None
