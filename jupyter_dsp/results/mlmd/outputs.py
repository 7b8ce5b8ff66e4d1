"""A run's pipeline outputs from ML Metadata: the root DAG's ``outputs`` struct when recorded,
else the producers named by the pipeline spec's ``root.dag.outputs`` (the KFP API gives the
run's ``pipeline_spec``) or by the DAG executions' ``parameter_producer_task`` /
``artifact_producer_task`` properties (KFP's driver writes those on sub-DAGs), followed through
sub-DAGs and ParallelFor iterations (a collected parameter is one list).
"""

from __future__ import annotations

import json
from typing import Any

from jupyter_dsp.results.mlmd.values import parameters, python_value


def pipeline_outputs(
    root: Any, tasks: list[dict[str, Any]], spec: dict[str, Any] | None
) -> dict[str, Any]:
    """The root DAG's outputs: its ``outputs`` struct when recorded, else the producers named
    by the pipeline spec's ``root.dag.outputs`` or the root's ``*_producer_task`` properties."""
    result: dict[str, Any] = {"parameters": {}, "artifacts": {}}
    if root is None:
        return result
    props = root.custom_properties
    result["parameters"] = parameters(props, "outputs")
    param_specs, art_specs = _output_specs(props, spec)
    for name, pspec in param_specs.items():
        if name in result["parameters"]:
            continue
        for task_name, key in _selectors(pspec, "parameter"):
            value = _resolve(tasks, root.id, task_name, key, "parameters")
            if value is not None:
                result["parameters"][name] = value[0] if len(value) == 1 else value
                break
    for name, aspec in art_specs.items():
        found: list[dict[str, Any]] = []
        for task_name, key in _selectors(aspec, "artifact"):
            found.extend(_resolve(tasks, root.id, task_name, key, "artifacts") or [])
        if found:
            result["artifacts"][name] = found
    return result


def _output_specs(props: Any, spec: dict[str, Any] | None) -> tuple[dict, dict]:
    if (
        isinstance(spec, dict)
        and "root" not in spec
        and isinstance(spec.get("pipeline_spec"), dict)
    ):
        spec = spec["pipeline_spec"]  # a spec bundled with its platform spec
    if isinstance(spec, dict) and spec.get("root"):
        outs = (spec.get("root") or {}).get("dag", {}).get("outputs", {}) or {}
        return dict(outs.get("parameters") or {}), dict(outs.get("artifacts") or {})
    params: dict = {}
    if "parameter_producer_task" in props:
        for name, raw in (python_value(props["parameter_producer_task"]) or {}).items():
            params[name] = _json(raw)
    arts: dict = {}
    if "artifact_producer_task" in props:
        arts = _json(props["artifact_producer_task"].string_value) or {}
    return params, arts


def _json(raw: Any) -> Any:
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return None
    return raw


def _selectors(spec: Any, kind: str) -> list[tuple[str, str]]:
    """(producer task, output key) pairs of a DagOutputParameterSpec/DagOutputArtifactSpec,
    in the IR's camelCase or Go's snake_case."""
    if not isinstance(spec, dict):
        return []

    def get(d: dict, camel: str, snake: str) -> Any:
        return d.get(camel, d.get(snake))

    key = "outputParameterKey" if kind == "parameter" else "outputArtifactKey"
    skey = "output_parameter_key" if kind == "parameter" else "output_artifact_key"
    if kind == "parameter":
        one = get(spec, "valueFromParameter", "value_from_parameter")
        many = get(spec, "valueFromOneof", "value_from_oneof") or {}
        sels = [one] if one else list(get(many, "parameterSelectors", "parameter_selectors") or [])
    else:
        sels = list(get(spec, "artifactSelectors", "artifact_selectors") or [])
    return [
        (get(s, "producerSubtask", "producer_subtask"), get(s, key, skey))
        for s in sels
        if isinstance(s, dict)
    ]


def _resolve(
    tasks: list[dict[str, Any]], dag_id: int, task_name: str, key: str, kind: str, depth: int = 0
) -> list[Any] | None:
    """Values of ``key`` produced by ``task_name`` inside DAG ``dag_id`` (several for loop
    iterations), following sub-DAGs through their own producer properties."""
    if depth > 20:
        return None
    found: list[Any] = []
    for t in tasks:
        if t["_parent"] != dag_id or t["name"] != task_name:
            continue
        if t["_dag"] and t["iteration_index"] is None and "iteration_count" in t["_props"]:
            # a ParallelFor: the loop DAG names the producer, each iteration DAG holds one
            pspecs, aspecs = _output_specs(t["_props"], None)
            spec = (pspecs if kind == "parameters" else aspecs).get(key)
            sels = _selectors(spec, "parameter" if kind == "parameters" else "artifact")
            for it in tasks:
                if it["_parent"] != int(t["task_id"]) or not it["_dag"]:
                    continue
                for name, k in sels:
                    found.extend(
                        _resolve(tasks, int(it["task_id"]), name, k, kind, depth + 1) or []
                    )
            if kind == "parameters":
                found = [found]  # dsl.Collected: one list value
            continue
        found.extend(_from_task(tasks, t, key, kind, depth) or [])
    return found or None


def _from_task(
    tasks: list[dict[str, Any]], t: dict[str, Any], key: str, kind: str, depth: int
) -> list[Any] | None:
    bucket = t["outputs"][kind]
    if key in bucket:
        return list(bucket[key]) if kind == "artifacts" else [bucket[key]]
    if not t["_dag"]:
        return None
    pspecs, aspecs = _output_specs(t["_props"], None)
    spec = (pspecs if kind == "parameters" else aspecs).get(key)
    out: list[Any] = []
    for name, k in _selectors(spec, "parameter" if kind == "parameters" else "artifact"):
        out.extend(_resolve(tasks, int(t["task_id"]), name, k, kind, depth + 1) or [])
    return out or None
