"""Can a pipeline run on this machine? Decided from the spec, before anything starts.

The embedded stack runs lightweight Python components only (the function's source travels in
the spec and runs with the installed Python and kfp). A step needs a cluster stack when it is:

- a container component or any image whose command is not the KFP executor running
  embedded source (including *containerized* Python components, whose code is in the image);
- an importer (or any executor kind other than a container);
- a component that installs packages at run time (``packages_to_install``): the stack never
  changes the environment.

Kubernetes platform settings (pod metadata, secrets, volumes...) have no local effect; they
are ignored, as ``kfp.local`` itself does.
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
            + ". The embedded stack runs lightweight Python components only, with the packages"
            " already installed; run it on a Kubeflow Pipelines cluster."
        )


def _step_name(executor_label: str) -> str:
    return executor_label[5:] if executor_label.startswith("exec-") else executor_label


def is_lightweight_python(full_command: list[str]) -> bool:
    """True for a lightweight Python component: the executor runs source carried in the spec."""
    joined = "\n".join(full_command)
    return EXECUTOR_MODULE in joined and EPHEMERAL_MARKER in joined


def executor_reasons(executor_label: str, executor: dict[str, Any]) -> list[str]:
    """Why one executor cannot run locally (empty when it can)."""
    step = _step_name(executor_label)
    container = executor.get("container")
    if not isinstance(container, dict):
        kinds = ", ".join(sorted(executor)) or "unknown"
        if "importer" in executor:
            return [f"step '{step}' is an importer"]
        return [f"step '{step}' is a {kinds} executor"]
    full_command = [str(x) for x in (container.get("command") or [])] + [
        str(x) for x in (container.get("args") or [])
    ]
    image = container.get("image", "")
    if not is_lightweight_python(full_command):
        return [f"step '{step}' runs the container image '{image}'"]
    prologue = read_prologue(full_command)
    if prologue.packages:
        return [
            f"step '{step}' installs packages at run time (packages_to_install: "
            + ", ".join(prologue.packages)
            + ")"
        ]
    if prologue.present and not prologue.strippable:
        return [f"step '{step}' prepares its environment in a way the embedded stack cannot skip"]
    return []


def cluster_only_reasons(pipeline_spec: dict[str, Any]) -> list[str]:
    """Every reason why the pipeline cannot run locally, one per step (empty when it can)."""
    deployment = pipeline_spec.get("deploymentSpec") or {}
    executors = deployment.get("executors") or {}
    reasons: list[str] = []
    for label in sorted(executors):
        executor = executors[label]
        if isinstance(executor, dict):
            reasons.extend(executor_reasons(label, executor))
    return reasons


def check_runs_locally(pipeline_spec: dict[str, Any]) -> None:
    """Raise :class:`NeedsClusterError` when a step cannot run on this machine."""
    reasons = cluster_only_reasons(pipeline_spec)
    if reasons:
        raise NeedsClusterError(reasons)
