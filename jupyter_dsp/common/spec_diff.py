"""What changed between two versions of a pipeline: pure logic on two compiled pipeline specs.

Shared by the kernel (``%dsp diff``, :mod:`jupyter_dsp.client.diff`) and the server
(``GET {base}dsp/diff``, :mod:`jupyter_dsp.server.diff`). :func:`diff_specs` returns JSON::

    {
      "changed": bool,
      "summary": [str],                       # one line per change, for text output
      "parameters": {                         # type: KFP's (NUMBER_DOUBLE); type_label: float
        "added":   [{"name", "type", "type_label", "default"?}],
        "removed": [{"name", "type", "type_label", "default"?}],
        "changed": [{"name", "old_type", "new_type", "old_type_label", "new_type_label",
                     "old_default"?, "new_default"?}]
      },
      "components": {                         # name: comp-report; label: report (its task)
        "added":   [{"name", "label", "image"?}],
        "removed": [{"name", "label", "image"?}],
        "changed": [{"name", "label", "code_changed": bool, "code_diff": str (unified diff),
                     "old_image", "new_image", "interface_changed": bool}]
      },
      "dag": {
        "old": {"nodes": [Node], "edges": [[from, to]]},
        "new": {"nodes": [Node], "edges": [[from, to]]}
      }
    }
    Node = {"id": "train" | "outer/inner", "component": "comp-train",
            "status": "same" | "changed" | "added" | "removed"}

A component's *code* is the Python function source a lightweight component carries in its
executor command (the kfp pip-install preamble, which changes with the compiling SDK, is
ignored); for other containers, the command and args. A DAG node is "changed" when its
component changed or the task's inputs did; nodes are matched by task name.
"""

from __future__ import annotations

import difflib
import json
from typing import Any

from jupyter_dsp.common.display import quoted_text, type_words

Spec = dict[str, Any]


def pipeline_spec_of(document: Any) -> Spec:
    """The pipeline spec inside what the KFP API returns as a version's ``pipeline_spec``
    (either the spec itself or ``{"pipeline_spec": ..., "platform_spec": ...}``)."""
    if not isinstance(document, dict):
        return {}
    inner = document.get("pipeline_spec")
    if isinstance(inner, dict) and "root" in inner:
        return inner
    return document


def _parameters(spec: Spec) -> dict[str, dict[str, Any]]:
    root = spec.get("root") or {}
    params = (root.get("inputDefinitions") or {}).get("parameters") or {}
    out = {}
    for name, definition in params.items():
        kind = definition.get("parameterType", "")
        entry: dict[str, Any] = {"name": name, "type": kind, "type_label": type_words(kind)}
        if "defaultValue" in definition:
            value = definition["defaultValue"]
            integer = entry["type"] == "NUMBER_INTEGER"
            if integer and isinstance(value, float) and value.is_integer():
                value = int(value)  # protobuf keeps every number as a double
            entry["default"] = value
        out[name] = entry
    return out


def _executor(spec: Spec, component: dict[str, Any]) -> dict[str, Any]:
    label = component.get("executorLabel")
    executors = (spec.get("deploymentSpec") or {}).get("executors") or {}
    return executors.get(label, {}) if label else {}


def component_code(executor: dict[str, Any]) -> str:
    """The Python source of a lightweight component, else its command and args."""
    container = executor.get("container") or {}
    command = [str(c) for c in container.get("command") or []]
    for index, part in enumerate(command):
        if "ephemeral_component.py" in part and index + 1 < len(command):
            return command[index + 1].strip("\n") + "\n"
    if container:
        args = [str(a) for a in container.get("args") or []]
        return "\n".join(command + ["--"] + args) + "\n"
    return json.dumps(executor, sort_keys=True, indent=1) + "\n" if executor else ""


def _components(spec: Spec) -> dict[str, dict[str, Any]]:
    out = {}
    for name, component in (spec.get("components") or {}).items():
        executor = _executor(spec, component)
        container = executor.get("container") or {}
        out[name] = {
            "name": name,
            "image": container.get("image", ""),
            "code": component_code(executor),
            "interface": json.dumps(
                [component.get("inputDefinitions"), component.get("outputDefinitions")],
                sort_keys=True,
            ),
            "dag": json.dumps(component.get("dag"), sort_keys=True) if "dag" in component else "",
        }
    return out


def _walk_dag(
    spec: Spec, dag: dict[str, Any], prefix: str, nodes: dict[str, dict[str, Any]], edges: list
) -> None:
    components = spec.get("components") or {}
    for task_name, task in (dag.get("tasks") or {}).items():
        node_id = f"{prefix}{task_name}"
        ref = (task.get("componentRef") or {}).get("name", "")
        nodes[node_id] = {
            "id": node_id,
            "component": ref,
            "inputs": json.dumps(task.get("inputs"), sort_keys=True),
            "trigger": json.dumps(task.get("triggerPolicy"), sort_keys=True),
        }
        upstream = set(task.get("dependentTasks") or [])
        for value in ((task.get("inputs") or {}).get("parameters") or {}).values():
            producer = (value.get("taskOutputParameter") or {}).get("producerTask")
            if producer:
                upstream.add(producer)
        for value in ((task.get("inputs") or {}).get("artifacts") or {}).values():
            producer = (value.get("taskOutputArtifact") or {}).get("producerTask")
            if producer:
                upstream.add(producer)
        for producer in sorted(upstream):
            edges.append([f"{prefix}{producer}", node_id])
        inner = (components.get(ref) or {}).get("dag")
        if isinstance(inner, dict) and prefix.count("/") < 20:
            _walk_dag(spec, inner, f"{node_id}/", nodes, edges)


def dag_of(spec: Spec) -> tuple[dict[str, dict[str, Any]], list[list[str]]]:
    nodes: dict[str, dict[str, Any]] = {}
    edges: list[list[str]] = []
    _walk_dag(spec, (spec.get("root") or {}).get("dag") or {}, "", nodes, edges)
    return nodes, edges


def _show(value: Any) -> str:
    return quoted_text(value)  # floats tidy: 0.1, not 0.09999999999999998


def component_labels(spec: Spec) -> dict[str, str]:
    """What people call each component: the display name of the task that uses it
    (``comp-report`` -> ``report``), else its name without KFP's ``comp-`` prefix."""
    used: dict[str, set[str]] = {}
    components = spec.get("components") or {}
    pending = [(spec.get("root") or {}).get("dag") or {}]
    while pending and len(used) < 10_000:
        dag = pending.pop()
        for task_name, task in (dag.get("tasks") or {}).items():
            ref = (task.get("componentRef") or {}).get("name", "")
            shown = (task.get("taskInfo") or {}).get("name") or task_name
            if ref not in used:
                inner = (components.get(ref) or {}).get("dag")
                if isinstance(inner, dict):
                    pending.append(inner)
            used.setdefault(ref, set()).add(shown)
    labels = {}
    for name in components:
        names = used.get(name, set())
        labels[name] = next(iter(names)) if len(names) == 1 else name.removeprefix("comp-")
    return labels


def diff_specs(old_document: Any, new_document: Any) -> dict[str, Any]:
    """The changes from ``old`` to ``new`` (see the module docstring for the shape)."""
    old, new = pipeline_spec_of(old_document), pipeline_spec_of(new_document)
    summary: list[str] = []

    old_params, new_params = _parameters(old), _parameters(new)
    params: dict[str, list[dict[str, Any]]] = {"added": [], "removed": [], "changed": []}
    for name in sorted(new_params.keys() - old_params.keys()):
        params["added"].append(new_params[name])
        default = new_params[name].get("default")
        extra = f", default {_show(default)}" if "default" in new_params[name] else ""
        summary.append(f"parameter {name!r} added ({new_params[name]['type_label']}{extra})")
    for name in sorted(old_params.keys() - new_params.keys()):
        params["removed"].append(old_params[name])
        summary.append(f"parameter {name!r} removed")
    for name in sorted(old_params.keys() & new_params.keys()):
        a, b = old_params[name], new_params[name]
        if a == b:
            continue
        change: dict[str, Any] = {
            "name": name,
            "old_type": a["type"],
            "new_type": b["type"],
            "old_type_label": a["type_label"],
            "new_type_label": b["type_label"],
        }
        if "default" in a:
            change["old_default"] = a["default"]
        if "default" in b:
            change["new_default"] = b["default"]
        params["changed"].append(change)
        if a.get("default") != b.get("default") or ("default" in a) != ("default" in b):
            before = _show(a["default"]) if "default" in a else "none"
            after = _show(b["default"]) if "default" in b else "none"
            summary.append(f"parameter {name!r} default changed: {before} -> {after}")
        if a["type"] != b["type"]:
            summary.append(
                f"parameter {name!r} type changed: {a['type_label']} -> {b['type_label']}"
            )

    old_comps, new_comps = _components(old), _components(new)
    labels = {**component_labels(old), **component_labels(new)}
    comps: dict[str, list[dict[str, Any]]] = {"added": [], "removed": [], "changed": []}
    changed_components: set[str] = set()
    for name in sorted(new_comps.keys() - old_comps.keys()):
        comps["added"].append(
            {"name": name, "label": labels[name], "image": new_comps[name]["image"]}
        )
        summary.append(f"component {labels[name]!r} added")
    for name in sorted(old_comps.keys() - new_comps.keys()):
        comps["removed"].append(
            {"name": name, "label": labels[name], "image": old_comps[name]["image"]}
        )
        summary.append(f"component {labels[name]!r} removed")
    for name in sorted(old_comps.keys() & new_comps.keys()):
        a, b = old_comps[name], new_comps[name]
        code_changed = a["code"] != b["code"]
        interface_changed = a["interface"] != b["interface"] or a["dag"] != b["dag"]
        if not code_changed and not interface_changed and a["image"] == b["image"]:
            continue
        changed_components.add(name)
        code_diff = "".join(
            difflib.unified_diff(
                a["code"].splitlines(keepends=True),
                b["code"].splitlines(keepends=True),
                f"{labels[name]} (old)",
                f"{labels[name]} (new)",
            )
        )
        comps["changed"].append(
            {
                "name": name,
                "label": labels[name],
                "code_changed": code_changed,
                "code_diff": code_diff,
                "old_image": a["image"],
                "new_image": b["image"],
                "interface_changed": interface_changed,
            }
        )
        label = labels[name]
        if code_changed:
            summary.append(f"component {label!r} code changed")
        if a["image"] != b["image"]:
            summary.append(f"component {label!r} image changed: {a['image']} -> {b['image']}")
        if interface_changed:
            summary.append(f"component {label!r} inputs/outputs changed")

    old_nodes, old_edges = dag_of(old)
    new_nodes, new_edges = dag_of(new)

    def status(node_id: str, side: str) -> str:
        a, b = old_nodes.get(node_id), new_nodes.get(node_id)
        if a is None:
            return "added"
        if b is None:
            return "removed"
        component = b["component"] if side == "new" else a["component"]
        if (
            a["component"] != b["component"]
            or a["inputs"] != b["inputs"]
            or a["trigger"] != b["trigger"]
            or component in changed_components
        ):
            return "changed"
        return "same"

    def nodes_json(nodes: dict[str, dict[str, Any]], side: str) -> list[dict[str, Any]]:
        return [
            {"id": n["id"], "component": n["component"], "status": status(n["id"], side)}
            for n in nodes.values()
        ]

    dag = {
        "old": {"nodes": nodes_json(old_nodes, "old"), "edges": old_edges},
        "new": {"nodes": nodes_json(new_nodes, "new"), "edges": new_edges},
    }
    for node_id in sorted(new_nodes.keys() - old_nodes.keys()):
        summary.append(f"task {node_id!r} added")
    for node_id in sorted(old_nodes.keys() - new_nodes.keys()):
        summary.append(f"task {node_id!r} removed")
    edges_changed = sorted(map(tuple, old_edges)) != sorted(map(tuple, new_edges))
    if edges_changed and not (new_nodes.keys() ^ old_nodes.keys()):
        summary.append("task dependencies changed")
    return {
        "changed": bool(summary),
        "summary": summary,
        "parameters": params,
        "components": comps,
        "dag": dag,
    }
