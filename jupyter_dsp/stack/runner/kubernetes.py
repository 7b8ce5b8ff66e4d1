"""What a step's Kubernetes settings ask for, which the embedded stack does not provide.

A pipeline's platform spec (``platforms.kubernetes.deploymentSpec.executors.<label>``) gives a
step secrets and config maps (as env or volumes), PVC mounts, pod fields as env, pod labels
and annotations. None of it exists on a laptop; like ``kfp.local`` the engine runs the step
anyway, writes what it left out at the top of the step's log, and adds it to the task's error
when the step fails (the likely reason).
"""

from __future__ import annotations

from typing import Any

_KINDS = {
    "secretAsEnv": "secret {name} as environment variables",
    "secretAsVolume": "secret {name} mounted at {path}",
    "configMapAsEnv": "config map {name} as environment variables",
    "configMapAsVolume": "config map {name} mounted at {path}",
    "pvcMount": "PVC {name} mounted at {path}",
    "fieldPathAsEnv": "pod field {field} as ${env}",
    "podMetadata": "pod labels and annotations",
}


def _name(item: dict[str, Any]) -> str:
    for key in ("secretName", "configMapName", "pvcName", "constant"):
        if isinstance(item.get(key), str) and item[key]:
            return f"'{item[key]}'"
    for key in ("secretNameParameter", "configMapNameParameter", "pvcNameParameter"):
        source = item.get(key) or {}
        constant = (source.get("runtimeValue") or {}).get("constant")
        if isinstance(constant, str):
            return f"'{constant}'"
        if "componentInputParameter" in source:
            return f"(from input '{source['componentInputParameter']}')"
        if "taskOutputParameter" in source:
            return "(from a task output)"
    return ""


def kubernetes_needs(platform_spec: dict[str, Any] | None, executor_label: str) -> list[str]:
    """What the step's Kubernetes settings ask for, in words (empty when nothing)."""
    if not platform_spec:
        return []
    kube = (platform_spec.get("platforms") or {}).get("kubernetes") or {}
    config = ((kube.get("deploymentSpec") or {}).get("executors") or {}).get(executor_label)
    if not isinstance(config, dict):
        return []
    needs: list[str] = []
    for kind, template in _KINDS.items():
        items = config.get(kind)
        if not items:
            continue
        for item in items if isinstance(items, list) else [items]:
            item = item if isinstance(item, dict) else {}
            text = template.format(
                name=_name(item),
                path=item.get("mountPath", "?"),
                field=item.get("fieldPath", "?"),
                env=item.get("name", "?"),
            )
            if text not in needs:
                needs.append(" ".join(text.split()))
    return needs
