"""Step caching as Kubeflow Pipelines does it.

KFP's backend (``backend/src/v2/cacheutils``) keys an execution by a hash of: the container
spec (image, command and args), the input parameter values, the input artifacts, and the
output definitions (artifact types, parameter types); a task's ``cachingOptions.cacheKey``,
when set, replaces the computed key. A task is cached only when its
``cachingOptions.enableCache`` is true (what ``kfp.Client(...).create_run_from_pipeline_func
(enable_caching=...)`` and ``task.set_caching_options`` write into the compiled spec).

On a cluster an input artifact is identified by its MLMD artifact, which a cache hit reuses;
here a hit gives the run copies of the files, so a local input artifact is identified by its
content (a digest of its files), its type and metadata: a step downstream of a cached step is
cached too.

Layout: ``ROOT/<fp>/entry.json`` (``{"parameters", "artifacts"}``) and the artifact files
under ``ROOT/<fp>/files/<name>/<i>/``. Entries are written to a temporary directory and
renamed into place, so concurrent workers never see half an entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

CACHE_DIR = "step-cache"  # under the stack's data dir
ENTRY = "entry.json"
FILES = "files"


def cache_root(data_dir: Path) -> Path:
    """Where a stack keeps its step cache."""
    return Path(data_dir) / CACHE_DIR


def caching_enabled(task_spec: dict[str, Any], stack_setting: bool = True) -> bool:
    """Whether a task of the compiled spec may be served from the cache."""
    if not stack_setting:
        return False
    options = task_spec.get("cachingOptions") or {}
    return bool(options.get("enableCache", False))


def local_path(uri: str) -> Path | None:
    """The file a local artifact URI names (a path or ``file://``), else None."""
    if uri.startswith("file://"):
        return Path(unquote(urlparse(uri).path))
    if uri.startswith("/"):
        return Path(uri)
    return None


def content_digest(path: Path) -> str:
    """sha256 over a file, or over a directory's relative names and file contents."""
    digest = hashlib.sha256()
    if path.is_file():
        files = [("", path)]
    elif path.is_dir():
        files = sorted(
            (str(p.relative_to(path)), p) for p in path.rglob("*") if p.is_file()
        )
    else:
        return "missing"
    for name, file in files:
        digest.update(name.encode() + b"\0")
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


def _executor_and_component(
    component_spec: dict[str, Any], executor_label: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Accepts the whole pipeline spec (looked up by ``executor_label``), a component dict
    carrying its executor under ``"executor"``, or a bare component dict."""
    if "deploymentSpec" in component_spec:
        executors = (component_spec.get("deploymentSpec") or {}).get("executors") or {}
        executor = executors.get(executor_label) or {}
        component = next(
            (
                c
                for c in (component_spec.get("components") or {}).values()
                if isinstance(c, dict) and c.get("executorLabel") == executor_label
            ),
            {},
        )
        return executor, component
    component = {k: v for k, v in component_spec.items() if k != "executor"}
    return component_spec.get("executor") or {}, component


def _executor_identity(executor: dict[str, Any]) -> dict[str, Any]:
    container = executor.get("container")
    if isinstance(container, dict):
        return {
            "image": container.get("image", ""),
            "cmdArgs": [str(x) for x in container.get("command") or []]
            + [str(x) for x in container.get("args") or []],
            "env": container.get("env") or [],
        }
    return executor  # importer, resolver...: the whole spec


def _artifact_identity(artifact: dict[str, Any]) -> dict[str, Any]:
    uri = str(artifact.get("uri") or "")
    path = local_path(uri)
    return {
        "schema_title": artifact.get("schema_title") or "",
        "metadata": artifact.get("metadata") or {},
        "content": content_digest(path) if path is not None else uri,
    }


def fingerprint(
    component_spec: dict[str, Any],
    executor_label: str,
    inputs: dict[str, Any],
    cache_key: str = "",
) -> str:
    """The cache key of one execution of a step.

    ``component_spec``: the pipeline spec (preferred: the executor is looked up by
    ``executor_label``) or the component dict with its executor under ``"executor"``.
    ``inputs``: ``{"parameters": {name: value}, "artifacts": {name: [{"uri", "metadata",
    "schema_title"}]}}``. ``cache_key``: the task's ``cachingOptions.cacheKey`` if any.
    """
    executor, component = _executor_and_component(component_spec, executor_label)
    if cache_key:
        basis: dict[str, Any] = {"customCacheKey": cache_key, "executor": executor_label}
    else:
        outputs = component.get("outputDefinitions") or {}
        basis = {
            "executor": _executor_identity(executor),
            "inputParameterValues": inputs.get("parameters") or {},
            "inputArtifacts": {
                name: [_artifact_identity(a) for a in items or []]
                for name, items in (inputs.get("artifacts") or {}).items()
            },
            "outputArtifactsSpec": {
                name: (spec.get("artifactType") or {}).get("schemaTitle", "")
                for name, spec in (outputs.get("artifacts") or {}).items()
            },
            "outputParametersSpec": {
                name: spec.get("parameterType", "")
                for name, spec in (outputs.get("parameters") or {}).items()
            },
        }
    text = json.dumps(basis, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class CachedOutputs:
    """Outputs of an earlier execution; artifact URIs point at the cache's copies."""

    parameters: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def copy_to(self, destination: dict[str, list[str]]) -> dict[str, list[dict[str, Any]]]:
        """Copy the artifact files to the run's own URIs (``{name: [uri per artifact]}``,
        as the engine would have given the step) and return the artifacts with those URIs.
        Artifacts without a destination keep the cache's URI."""
        copied: dict[str, list[dict[str, Any]]] = {}
        for name, items in self.artifacts.items():
            targets = destination.get(name) or []
            out = []
            for index, artifact in enumerate(items):
                artifact = dict(artifact)
                source = local_path(str(artifact.get("uri") or ""))
                if index < len(targets) and source is not None:
                    target = local_path(targets[index])
                    if target is not None:
                        _copy(source, target)
                        artifact["uri"] = targets[index]
                out.append(artifact)
            copied[name] = out
        return copied


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target, dirs_exist_ok=True)
    elif source.exists():
        shutil.copy2(source, target)


class StepCache:
    """A stack's cache of step outputs, shared by the worker processes of its runs."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def lookup(self, fp: str) -> CachedOutputs | None:
        entry = self.root / fp / ENTRY
        try:
            data = json.loads(entry.read_text())
        except (OSError, ValueError):
            return None
        artifacts = data.get("artifacts") or {}
        for items in artifacts.values():
            for artifact in items:
                path = local_path(str(artifact.get("uri") or ""))
                if path is not None and not path.exists():
                    return None  # a file went missing: run the step again
        return CachedOutputs(dict(data.get("parameters") or {}), artifacts)

    def store(
        self,
        fp: str,
        parameters: dict[str, Any],
        artifacts: dict[str, list[dict[str, Any]]],
    ) -> None:
        """Keep a successful execution's outputs (the artifact files are copied)."""
        self.root.mkdir(parents=True, exist_ok=True)
        final = self.root / fp
        if (final / ENTRY).exists():
            return
        staging = Path(tempfile.mkdtemp(prefix=".store-", dir=self.root))
        try:
            kept: dict[str, list[dict[str, Any]]] = {}
            for name, items in (artifacts or {}).items():
                kept[name] = []
                for index, artifact in enumerate(items or []):
                    artifact = dict(artifact)
                    uri = str(artifact.get("uri") or "")
                    source = local_path(uri)
                    if source is not None:
                        if not source.exists():
                            return  # nothing to reuse: do not cache
                        relative = Path(FILES) / _safe(name) / str(index) / source.name
                        _copy(source, staging / relative)
                        copy = final / relative
                        artifact["uri"] = copy.as_uri() if uri.startswith("file://") else str(copy)
                    kept[name].append(artifact)
            (staging / ENTRY).write_text(
                json.dumps({"parameters": parameters or {}, "artifacts": kept}, default=str)
            )
            try:
                os.rename(staging, final)
            except OSError:
                pass  # another worker stored the same execution first
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def entries(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / ENTRY).exists())

    def remove(self, fp: str) -> bool:
        """Forget one cached execution."""
        return _remove(self.root / fp, self.root)

    def clear(self) -> int:
        """Forget every cached execution; returns how many there were."""
        return sum(1 for fp in self.entries() if self.remove(fp))


def _remove(path: Path, root: Path) -> bool:
    if not path.exists():
        return False
    trash = Path(tempfile.mkdtemp(prefix=".trash-", dir=root))
    try:
        os.rename(path, trash / path.name)  # readers see all of it or none
    except OSError:
        shutil.rmtree(trash, ignore_errors=True)
        return False
    shutil.rmtree(trash, ignore_errors=True)
    return True


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name) or "artifact"


def clear_step_cache(data_dir: Path) -> int:
    """Clear a stack's step cache (the CLI and the magics call this); returns the count."""
    return StepCache(cache_root(data_dir)).clear()
