"""Container steps: find a Docker or Podman engine and run a step in it with kfp.local.

:func:`find_container_engine` looks where Docker's and Podman's clients look: ``DOCKER_HOST``,
then ``/var/run/docker.sock``, then Podman's Docker-compatible sockets (rootless
``$XDG_RUNTIME_DIR/podman/podman.sock``, ``/run/user/<uid>/podman/podman.sock``, rootful
``/run/podman/podman.sock``). A socket counts only when something accepts a connection on it.

:func:`run_container_step` turns one step of a compiled pipeline (its component and executor)
back into a component (``kfp.components.load_component_from_text``) and calls it under
``kfp.local.init(runner=kfp.local.DockerRunner())``, kfp.local's public Docker runner (which
needs the ``docker`` package: ``pip install 'jupyter-dsp[containers]'``). Without an engine
the step fails at once with :class:`ContainerEngineError`, naming the step and the image.

Python components run in the subprocess runner unless the stack is told to run them in
containers too (``--python-in-containers`` / ``DSPSettings.python_in_containers``); the
engine decides with :func:`jupyter_dsp.stack.runner.locality.wants_container`.
"""

from __future__ import annotations

import inspect
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

PODMAN_SOCKET = "podman/podman.sock"
DOCKER_SOCKET = "/var/run/docker.sock"


class ContainerEngineError(Exception):
    """A container step cannot run here (the message names the step and the image)."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


def _accepts(path: Path) -> bool:
    """True when a process listens on the unix socket at ``path``."""
    if not path.is_socket():
        return False
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(1)
    try:
        sock.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        sock.close()


def candidate_sockets(environ: Mapping[str, str] | None = None) -> list[Path]:
    """Where a Docker-compatible socket may be, in the order they are tried."""
    env = os.environ if environ is None else environ
    found = [Path(DOCKER_SOCKET)]
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime:
        found.append(Path(runtime) / PODMAN_SOCKET)
    found.append(Path(f"/run/user/{os.getuid()}") / PODMAN_SOCKET)
    found.append(Path("/run") / PODMAN_SOCKET)
    unique: list[Path] = []
    for path in found:
        if path not in unique:
            unique.append(path)
    return unique


def find_container_engine(environ: Mapping[str, str] | None = None) -> str | None:
    """The ``DOCKER_HOST``-style URL of a reachable engine, or None."""
    env = os.environ if environ is None else environ
    host = (env.get("DOCKER_HOST") or "").strip()
    if host:
        if host.startswith("unix://"):
            return host if _accepts(Path(host[len("unix://") :])) else None
        return host  # tcp:// or ssh://: the client will say if it cannot connect
    for path in candidate_sockets(env):
        if _accepts(path):
            return f"unix://{path}"
    return None


def _importer(name: str, item: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The component and executor of an importer that hands ``item`` to the step: kfp.local
    takes no artifact arguments, so input artifacts enter the one-step pipeline this way."""
    title = item.get("schema_title") or "system.Artifact"
    schema = {"schemaTitle": title, "schemaVersion": "0.0.1"}
    component = {
        "executorLabel": f"exec-import-{name}",
        "inputDefinitions": {"parameters": {"uri": {"parameterType": "STRING"}}},
        "outputDefinitions": {"artifacts": {"artifact": {"artifactType": schema}}},
    }
    importer: dict[str, Any] = {
        "artifactUri": {"constant": str(item.get("uri") or "")},
        "typeSchema": schema,
    }
    if item.get("metadata"):
        importer["metadata"] = item["metadata"]
    return component, {"importer": importer}


def step_component_yaml(
    step_name: str,
    component: dict[str, Any],
    executor_label: str,
    executor: dict[str, Any],
    artifacts: dict[str, list[dict[str, Any]]] | None = None,
) -> str:
    """A one-step pipeline (compiled IR) equivalent to a step of a compiled pipeline: its
    parameters stay inputs, its input ``artifacts`` come from importers."""
    comp_name = f"comp-{step_name}"
    inputs = component.get("inputDefinitions") or {}
    outputs = component.get("outputDefinitions") or {}
    components: dict[str, Any] = {comp_name: {**component, "executorLabel": executor_label}}
    executors: dict[str, Any] = {executor_label: executor}
    tasks: dict[str, Any] = {}
    task_inputs: dict[str, Any] = {}
    if inputs.get("parameters"):
        task_inputs["parameters"] = {
            name: {"componentInputParameter": name} for name in inputs["parameters"]
        }
    for name, items in (artifacts or {}).items():
        if len(items) != 1:
            raise ContainerEngineError(
                f"step '{step_name}': a list of input artifacts ('{name}') cannot be handed "
                "to a container step here"
            )
        importer_component, importer_executor = _importer(name, items[0])
        label = importer_component["executorLabel"]
        components[f"comp-import-{name}"] = importer_component
        executors[label] = importer_executor
        tasks[f"import-{name}"] = {
            "componentRef": {"name": f"comp-import-{name}"},
            "taskInfo": {"name": f"import-{name}"},
            "inputs": {
                "parameters": {
                    "uri": {"runtimeValue": {"constant": str(items[0].get("uri") or "")}}
                }
            },
        }
        producer = {"outputArtifactKey": "artifact", "producerTask": f"import-{name}"}
        task_inputs.setdefault("artifacts", {})[name] = {"taskOutputArtifact": producer}
    task: dict[str, Any] = {"componentRef": {"name": comp_name}, "taskInfo": {"name": step_name}}
    if task_inputs:
        task["inputs"] = task_inputs
    if tasks:
        task["dependentTasks"] = sorted(tasks)
    tasks[step_name] = task
    dag_outputs: dict[str, Any] = {}
    if outputs.get("parameters"):
        dag_outputs["parameters"] = {
            name: {"valueFromParameter": {"outputParameterKey": name, "producerSubtask": step_name}}
            for name in outputs["parameters"]
        }
    if outputs.get("artifacts"):
        dag_outputs["artifacts"] = {
            name: {"artifactSelectors": [{"outputArtifactKey": name, "producerSubtask": step_name}]}
            for name in outputs["artifacts"]
        }
    root: dict[str, Any] = {"dag": {"tasks": tasks}}
    if dag_outputs:
        root["dag"]["outputs"] = dag_outputs
    if inputs.get("parameters"):
        root["inputDefinitions"] = {"parameters": inputs["parameters"]}
    if outputs:
        root["outputDefinitions"] = outputs
    spec = {
        "components": components,
        "deploymentSpec": {"executors": executors},
        "pipelineInfo": {"name": f"jupyter-dsp-one-step-{step_name}"},
        "root": root,
        "schemaVersion": "2.1.0",
    }
    return yaml.safe_dump(spec, sort_keys=False)


def run_container_step(
    step_name: str,
    component: dict[str, Any],
    executor_label: str,
    executor: dict[str, Any],
    parameters: dict[str, Any],
    artifacts: dict[str, list[dict[str, Any]]],
    pipeline_root: Path,
    runner: Any = None,
) -> dict[str, Any]:
    """Run one step with kfp.local's DockerRunner (or ``runner``); returns
    ``{"parameters": {...}, "artifacts": {name: [{"name","uri","schema_title","metadata"}]}}``.

    Raises :class:`ContainerEngineError` at once when the Docker runner is wanted and no
    engine is reachable or the ``docker`` package is missing."""
    image = str((executor.get("container") or {}).get("image") or "")
    if runner is None:
        engine = find_container_engine()
        if engine is None:
            raise ContainerEngineError(
                f"step '{step_name}' runs the container image '{image}', and no container "
                "engine is reachable here (no DOCKER_HOST, no Docker socket at "
                f"{DOCKER_SOCKET}, no Podman socket); start Docker or Podman, or run the "
                "pipeline on a cluster"
            )
        try:
            import docker  # noqa: F401  (kfp.local's DockerRunner needs it)
        except ImportError as exc:
            raise ContainerEngineError(
                f"step '{step_name}' runs the container image '{image}': running containers "
                "needs the 'docker' package (pip install 'jupyter-dsp[containers]')"
            ) from exc
        os.environ["DOCKER_HOST"] = engine  # docker.from_env() reads it (Podman too)
        from kfp import local

        runner = local.DockerRunner()
    from kfp import components, local

    text = step_component_yaml(step_name, component, executor_label, executor, artifacts)
    step = components.load_component_from_text(text)
    options: dict[str, Any] = {"pipeline_root": str(pipeline_root), "raise_on_error": True}
    if "workspace_root" in inspect.signature(local.init).parameters:  # kfp >= 2.15
        options["workspace_root"] = str(Path(pipeline_root) / "workspace")
    local.init(runner=runner, **options)
    task = step(**parameters)
    return split_outputs(task.outputs)


def split_outputs(outputs: Mapping[str, Any]) -> dict[str, Any]:
    """kfp.local task outputs as the engine records them."""
    from kfp import dsl

    params: dict[str, Any] = {}
    arts: dict[str, list[dict[str, Any]]] = {}
    for name, value in outputs.items():
        values = value if isinstance(value, list) else [value]
        if values and all(isinstance(v, dsl.Artifact) for v in values):
            arts[name] = [
                {
                    "name": v.name,
                    "uri": v.uri,
                    "schema_title": getattr(v, "schema_title", "system.Artifact"),
                    "metadata": dict(v.metadata or {}),
                }
                for v in values
            ]
        else:
            params[name] = value
    return {"parameters": params, "artifacts": arts}
