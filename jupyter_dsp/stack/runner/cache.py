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

Layout: ``ROOT/<scope>/<fp>/entry.json`` (``{"parameters", "artifacts"}``) and the artifact
files under ``ROOT/<scope>/<fp>/files/<name>/<i>/``; ``<scope>`` names the namespace of the
run that stored it (a hit from another namespace never happens). Entries are written to a
temporary directory and renamed into place, so concurrent workers never see half an entry.

Store and restore run in the worker (root when steps have their own user), on files a step
wrote: every path is walked without following links (:mod:`nofollow`); a link inside an
output that stays inside it is kept as a link, an output with a link leading out of it (or
larger than ``MAX_ENTRY_BYTES``, or outside the run) is not cached at all.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from jupyter_dsp.stack.runner import nofollow
from jupyter_dsp.stack.runner.run_context import current_run

CACHE_DIR = "step-cache"  # under the stack's data dir
ENTRY = "entry.json"
FILES = "files"
MAX_ENTRY_BYTES = 2 * 1024**3  # outputs of one execution larger than this are not cached


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
    """sha256 over a file, or over a directory's relative names and file contents (links
    count by their target text, never followed; other special files by their name)."""
    digest = hashlib.sha256()
    try:
        fd, is_dir = nofollow.open_any(os.path.abspath(path))
    except OSError:
        return "missing"
    with nofollow.closing_fd(fd):
        if is_dir:
            _digest_dir(fd, "", digest)
        else:
            _digest_file(fd, "", digest)
    return digest.hexdigest()


def _digest_file(fd: int, name: str, digest: Any) -> None:
    digest.update(name.encode() + b"\0")
    for block in nofollow.read_range(fd, 0, os.fstat(fd).st_size):
        digest.update(block)
    digest.update(b"\0")


def _digest_dir(dir_fd: int, prefix: str, digest: Any) -> None:
    with os.scandir(dir_fd) as entries:
        names = sorted(e.name for e in entries)
    for name in names:
        relative = f"{prefix}{name}"
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            digest.update(f"{relative}\0->{os.readlink(name, dir_fd=dir_fd)}\0".encode())
        elif stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode):
            try:
                fd = os.open(
                    name,
                    nofollow.DIR_FLAGS if stat.S_ISDIR(st.st_mode) else nofollow.FILE_FLAGS,
                    dir_fd=dir_fd,
                )
            except OSError:
                digest.update(f"{relative}\0?\0".encode())
                continue
            with nofollow.closing_fd(fd):
                if stat.S_ISDIR(st.st_mode):
                    _digest_dir(fd, relative + "/", digest)
                else:
                    _digest_file(fd, relative, digest)


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
                        _restore(source, target)
                        artifact["uri"] = targets[index]
                out.append(artifact)
            copied[name] = out
        return copied


def _restore(source: Path, target: Path) -> None:
    """Copy a cached file or directory to a run's output path (the cache's own files; the
    target's directories may be the step user's: nothing on either side is followed)."""
    run = current_run()
    nofollow.copy_path(
        os.path.abspath(source),
        os.path.abspath(target),
        nofollow.Budget(MAX_ENTRY_BYTES),
        "the cached output",
        nofollow.LINKS_INSIDE,
        target_base=str(run.run_dir) if run is not None else None,
    )


def namespace_scope(namespace: str) -> str:
    """The directory of a namespace's entries (a digest: any namespace name is safe)."""
    return "ns-" + hashlib.sha256(namespace.encode()).hexdigest()[:24]


class StepCache:
    """A stack's cache of step outputs, shared by the worker processes of its runs; one
    namespace's entries are never another's. ``namespace`` None: the current run's."""

    def __init__(self, root: Path, namespace: str | None = None) -> None:
        self.root = Path(os.path.abspath(root))
        run = current_run()
        if namespace is None:
            namespace = run.namespace if run is not None else ""
        self.namespace = namespace
        self.dir = self.root / namespace_scope(namespace)
        # outputs are taken only from the current run's own directory, as its step could
        self._run_dir = str(run.run_dir) if run is not None else None
        self._uid = run.uid if run is not None else None

    def lookup(self, fp: str) -> CachedOutputs | None:
        try:
            with nofollow.closing_fd(nofollow.open_file(self.dir / fp / ENTRY)) as fd:
                data = json.loads(b"".join(nofollow.read_range(fd, 0, os.fstat(fd).st_size)))
        except (OSError, ValueError):
            return None
        artifacts = data.get("artifacts") or {}
        for items in artifacts.values():
            for artifact in items:
                path = local_path(str(artifact.get("uri") or ""))
                if path is None:
                    continue
                if not nofollow.is_within(path, self.dir / fp):
                    return None  # not one of this entry's files
                try:
                    os.close(nofollow.open_any(str(path))[0])
                except OSError:
                    return None  # a file went missing: run the step again
        return CachedOutputs(dict(data.get("parameters") or {}), artifacts)

    def store(
        self,
        fp: str,
        parameters: dict[str, Any],
        artifacts: dict[str, list[dict[str, Any]]],
    ) -> None:
        """Keep a successful execution's outputs (the artifact files are copied); outputs
        that cannot be copied safely (links out, too large, outside the run) are not kept."""
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        final = self.dir / fp
        if (final / ENTRY).exists():
            return
        staging = Path(tempfile.mkdtemp(prefix=".store-", dir=self.dir))
        budget = nofollow.Budget(MAX_ENTRY_BYTES)
        try:
            kept: dict[str, list[dict[str, Any]]] = {}
            for name, items in (artifacts or {}).items():
                kept[name] = []
                for index, artifact in enumerate(items or []):
                    artifact = dict(artifact)
                    uri = str(artifact.get("uri") or "")
                    source = local_path(uri)
                    if source is not None:
                        relative = Path(FILES) / _safe(name) / str(index) / (_safe(source.name))
                        try:
                            nofollow.copy_path(
                                os.path.abspath(source),
                                str(staging / relative),
                                budget,
                                f"output '{name}'",
                                nofollow.LINKS_INSIDE,
                                self._uid,
                                source_base=self._run_dir,
                            )
                        except OSError:
                            return  # missing, unsafe or too large: not cached
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
        """This namespace's cached executions."""
        if not self.dir.is_dir():
            return []
        return sorted(p.name for p in self.dir.iterdir() if (p / ENTRY).exists())

    def remove(self, fp: str) -> bool:
        """Forget one cached execution."""
        return _remove(self.dir / fp, self.dir)

    def clear(self) -> int:
        """Forget every cached execution of every namespace; returns how many there were."""
        if not self.root.is_dir():
            return 0
        count = 0
        for scope in sorted(self.root.iterdir()):
            if (scope / ENTRY).exists():  # an entry of the layout without namespaces
                count += 1 if _remove(scope, self.root) else 0
            elif scope.is_dir() and not scope.is_symlink():
                for entry in sorted(scope.iterdir()):
                    if (entry / ENTRY).exists() and _remove(entry, scope):
                        count += 1
        return count


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
