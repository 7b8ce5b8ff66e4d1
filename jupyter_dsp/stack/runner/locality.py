"""Can a pipeline run on this machine? Decided from the spec, before anything starts.

The embedded stack runs lightweight Python components (the function's source travels in the
spec; ``packages_to_install`` go into a per-step virtualenv) and importers. A step needs a
cluster stack when it is a container image (including *containerized* Python components,
whose code is in the image) and no container engine is reachable, or an executor kind the
stack does not know.

Kubernetes platform settings (pod metadata, secrets, volumes...) have no local effect; they
are ignored, as ``kfp.local`` itself does (a step that needs them fails saying what it missed).
"""

from __future__ import annotations

from typing import Any

from jupyter_dsp.stack.runner.prologue import read_prologue

EXECUTOR_MODULE = "kfp.dsl.executor_main"
EPHEMERAL_MARKER = "ephemeral_component.py"


class NeedsClusterError(Exception):
    """The pipeline has steps that only a cluster stack can run."""

    def __init__(self, reasons: list[str]) -> None:
        self.reasons = reasons
        super().__init__(
            "This pipeline needs a cluster stack: "
            + "; ".join(reasons)
            + ". The embedded stack runs Python components and importers here; container"
            " images need Docker or Podman. Run it on a Kubeflow Pipelines cluster."
        )


def _step_name(executor_label: str) -> str:
    return executor_label[5:] if executor_label.startswith("exec-") else executor_label


def is_lightweight_python(full_command: list[str]) -> bool:
    """True for a lightweight Python component: the executor runs source carried in the spec."""
    joined = "\n".join(full_command)
    return EXECUTOR_MODULE in joined and EPHEMERAL_MARKER in joined


def wants_container(full_command: list[str], python_in_containers: bool) -> bool:
    """Whether the engine should run a step in a container: every step that is not a
    lightweight Python component, and those too when the setting asks for it."""
    return python_in_containers or not is_lightweight_python(full_command)


def executor_reasons(
    executor_label: str, executor: dict[str, Any], container_engine: bool | None = None
) -> list[str]:
    """Why one executor cannot run on this machine (empty when it can).

    Lightweight Python components (with or without ``packages_to_install``) and importers run
    here; a container image needs a container engine (``container_engine``: whether one is
    reachable; looked up when None).
    """
    step = _step_name(executor_label)
    container = executor.get("container")
    if not isinstance(container, dict):
        if "importer" in executor:
            return []
        kinds = ", ".join(sorted(executor)) or "unknown"
        return [f"step '{step}' is a {kinds} executor"]
    full_command = [str(x) for x in (container.get("command") or [])] + [
        str(x) for x in (container.get("args") or [])
    ]
    image = container.get("image", "")
    if not is_lightweight_python(full_command):
        if container_engine is None:
            from jupyter_dsp.stack.runner.containers import find_container_engine

            container_engine = find_container_engine() is not None
        if container_engine:
            return []
        return [
            f"step '{step}' runs the container image '{image}' and no container engine"
            " (Docker or Podman) is reachable here"
        ]
    prologue = read_prologue(full_command)
    if prologue.present and not prologue.strippable:
        return [f"step '{step}' prepares its environment in a way the embedded stack cannot skip"]
    return []


def cluster_only_reasons(pipeline_spec: dict[str, Any]) -> list[str]:
    """Every reason why the pipeline cannot run locally, one per step (empty when it can)."""
    deployment = pipeline_spec.get("deploymentSpec") or {}
    executors = deployment.get("executors") or {}
    reasons: list[str] = []
    engine: bool | None = None
    for label in sorted(executors):
        executor = executors[label]
        if isinstance(executor, dict):
            found = executor_reasons(label, executor, engine)
            if found and "container engine" in found[0]:
                engine = False
            reasons.extend(found)
    return reasons


def check_runs_locally(pipeline_spec: dict[str, Any]) -> None:
    """Raise :class:`NeedsClusterError` when a step cannot run on this machine."""
    reasons = cluster_only_reasons(pipeline_spec)
    if reasons:
        raise NeedsClusterError(reasons)
