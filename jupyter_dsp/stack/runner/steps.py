"""Running one executor task: cache lookup, retries, importers, containers, Python steps.

A step runs as KFP's launcher runs it on a cluster: the ``ExecutorInput`` built from the
component and the resolved inputs, the component's own command and args with placeholders
filled, outputs read back from the executor output file. The ``pip install`` prologue of
lightweight Python components is dropped: the step runs with the server's Python, or with a
virtualenv of its ``packages_to_install`` layered over it (:mod:`environments`), so the
server's environment never changes.

Caching: a retried run reuses the steps that succeeded in its earlier attempts (its own cache
under the run's directory); with caching on (the stack's setting and the task's
``cachingOptions.enableCache``), any run reuses the outputs of an identical earlier execution
(the stack's :class:`StepCache`). Either way the task is CACHED.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from jupyter_dsp.stack.runner import executor_input
from jupyter_dsp.stack.runner.cache import StepCache, fingerprint
from jupyter_dsp.stack.runner.dag import StepCall
from jupyter_dsp.stack.runner.environments import runtime_kfp_requirement
from jupyter_dsp.stack.runner.inputs import Outputs, Result
from jupyter_dsp.stack.runner.kubernetes import kubernetes_needs
from jupyter_dsp.stack.runner.launch import StepLauncher
from jupyter_dsp.stack.runner.locality import wants_container
from jupyter_dsp.stack.runner.model import CACHED, FAILED, SUCCEEDED, TaskRecord
from jupyter_dsp.stack.runner.placeholders import (
    PlaceholderContext,
    PlaceholderError,
    fill,
    resolve_command,
)
from jupyter_dsp.stack.runner.prologue import read_prologue
from jupyter_dsp.stack.runner.recording import Recorder, last_error_line, public_artifacts

_PYTHON3 = re.compile(r"(?<![\w/.-])python3(?![\w.-])")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


class StepError(Exception):
    """The step cannot run or failed (the message is the task's error). ``partial``: output
    artifacts a failed step had already written (kept, as a failed notebook's executed copy)."""

    def __init__(self, message: str, partial: dict[str, list[dict[str, Any]]] | None = None):
        super().__init__(message)
        self.partial = partial or {}


@dataclass
class StepOptions:
    step_caching: bool = True
    python_in_containers: bool = False
    environments: Any = None  # StepEnvironments, or None
    step_cache: StepCache | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    # step processes of one run at a time (a ParallelFor without parallelism over many items
    # must not start hundreds of interpreters at once)
    max_parallel_steps: int = field(default_factory=lambda: max(4, 2 * (os.cpu_count() or 1)))


def _open_log(path: Path) -> BinaryIO:
    """A task's log for appending (0600: the run's logs are the stack's own files)."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "ab")


def _seconds(text: Any, default: float) -> float:
    match = _DURATION.match(str(text or ""))
    return float(match.group(1)) if match else default


def _written_file(uri: str) -> bool:
    """A local artifact URI whose file or directory the step wrote (no link followed)."""
    if not uri.startswith(("/", "file://")):
        return False
    path = Path(uri.removeprefix("file://"))
    return path.exists() and not path.is_symlink()


def _index_urls(script: str) -> list[str]:
    tokens = shlex.split(script, posix=True) if script else []
    urls = []
    for before, token in zip([""] + tokens, tokens, strict=False):
        if before in ("--index-url", "-i", "--extra-index-url"):
            urls.append(token)
    return urls


class StepRuntime:
    def __init__(
        self,
        pipeline_spec: dict[str, Any],
        run_dir: Path,
        recorder: Recorder,
        launcher: StepLauncher,
        options: StepOptions,
        platform_spec: dict[str, Any] | None = None,
    ) -> None:
        self.executors = (pipeline_spec.get("deploymentSpec") or {}).get("executors") or {}
        self.run_dir = run_dir
        self.artifacts_dir = run_dir / "artifacts"
        self.recorder = recorder
        self.launcher = launcher
        self.options = options
        self.run_cache = StepCache(run_dir / "cache")
        self.platform_spec = platform_spec
        self.slots = threading.BoundedSemaphore(max(1, options.max_parallel_steps))
        self.container_lock = threading.Lock()

    def run(self, call: StepCall) -> Result:
        display = str((call.task_spec.get("taskInfo") or {}).get("name") or call.key)
        task = self.recorder.open(
            call.parent_id, call.key, display, "executor", task_id=call.task_id
        )
        defs = (call.component.get("inputDefinitions") or {}).get("parameters") or {}
        task.inputs = {
            k: executor_input.typed(v, (defs.get(k) or {}).get("parameterType", ""))
            for k, v in call.parameters.items()
            if not defs or k in defs
        }
        task.input_artifacts = public_artifacts(call.artifacts)
        self.recorder.send(task)
        try:
            outputs, state = self._execute(call, task)
        except StepError as exc:
            error = str(exc)
            needs = kubernetes_needs(self.platform_spec, call.component.get("executorLabel", ""))
            if needs:
                error += (
                    f" (the step asks for Kubernetes {'; '.join(needs)}, which the embedded"
                    " stack does not provide)"
                )
            if exc.partial:
                task.output_artifacts = public_artifacts(exc.partial)
            self.recorder.close(task, FAILED, error)
            return Result(FAILED, error=error)
        task.outputs = dict(outputs.parameters)
        task.output_artifacts = public_artifacts(outputs.artifacts)
        task.cached = state == CACHED
        self.recorder.close(task, state)
        return Result(state, outputs)

    # ----- one step ----------------------------------------------------------------------

    def _execute(self, call: StepCall, task: TaskRecord) -> tuple[Outputs, str]:
        label = call.component.get("executorLabel", "")
        executor = self.executors.get(label)
        if not isinstance(executor, dict):
            raise StepError(f"the pipeline has no executor '{label}'")
        task_root = self.artifacts_dir / task.task_id.replace(".", "/")
        ident = {
            "parameters": task.inputs,
            "artifacts": {
                n: [{k: a.get(k) for k in ("uri", "metadata", "schema_title")} for a in items]
                for n, items in call.artifacts.items()
            },
        }
        cache_key = str((call.task_spec.get("cachingOptions") or {}).get("cacheKey") or "")
        fp = fingerprint({**call.component, "executor": executor}, label, ident, cache_key)
        run_key = f"{fp[:40]}-{task.task_id}"
        hit = self.run_cache.lookup(run_key)
        caching = bool((call.task_spec.get("cachingOptions") or {}).get("enableCache"))
        shared = self.options.step_cache if (caching and self.options.step_caching) else None
        if hit is None and shared is not None:
            hit = shared.lookup(fp)
        if hit is not None:
            wanted = executor_input.output_artifacts_for(call.component, task_root)
            artifacts = hit.copy_to({n: [a["uri"] for a in items] for n, items in wanted.items()})
            for name, items in artifacts.items():
                for item, target in zip(items, wanted.get(name, []), strict=False):
                    item.setdefault("schema_version", target.get("schema_version"))
            return Outputs(dict(hit.parameters), artifacts), CACHED
        outputs = self._with_retries(call, task, executor, task_root)
        self.run_cache.store(run_key, outputs.parameters, outputs.artifacts)
        if shared is not None:
            shared.store(fp, outputs.parameters, outputs.artifacts)
        return outputs, SUCCEEDED

    def _with_retries(
        self, call: StepCall, task: TaskRecord, executor: dict[str, Any], task_root: Path
    ) -> Outputs:
        policy = call.task_spec.get("retryPolicy") or {}
        retries = int(policy.get("maxRetryCount") or 0)
        delay = _seconds(policy.get("backoffDuration"), 0.0)
        factor = float(policy.get("backoffFactor") or 2.0)
        cap = _seconds(policy.get("backoffMaxDuration"), 3600.0)
        attempt = 0
        while True:
            attempt += 1
            task.attempts = attempt
            self.recorder.send(task)
            try:
                return self._attempt(call, task, executor, task_root)
            except StepError as exc:
                if attempt > retries:
                    raise
                wait = min(delay * (factor ** (attempt - 1)), cap)
                with _open_log(self.recorder.log_path(task.task_id)) as log:
                    log.write(f"{exc}; retrying in {wait:g} s\n".encode())
                time.sleep(wait)

    def _attempt(
        self, call: StepCall, task: TaskRecord, executor: dict[str, Any], task_root: Path
    ) -> Outputs:
        if task_root.exists():
            shutil.rmtree(task_root, ignore_errors=True)
        task_root.mkdir(parents=True, exist_ok=True)
        self.launcher.prepare_output_dir(task_root)
        if "importer" in executor:
            return self._import(call, executor["importer"], task_root)
        container = executor.get("container")
        if not isinstance(container, dict):
            raise StepError(f"step '{call.key}' has an executor kind the engine does not run")
        full = [str(x) for x in container.get("command") or []] + [
            str(x) for x in container.get("args") or []
        ]
        if wants_container(full, self.options.python_in_containers):
            return self._container(call, executor, task_root)
        return self._python(call, task, container, full, task_root)

    def _python(
        self,
        call: StepCall,
        task: TaskRecord,
        container: dict[str, Any],
        full: list[str],
        task_root: Path,
    ) -> Outputs:
        log_path = self.recorder.log_path(task.task_id)
        prologue = read_prologue(full)
        if prologue.present and not prologue.strippable:
            raise StepError("the step's install prologue has a form the embedded stack cannot skip")
        command = full[3:] if prologue.present else full
        with _open_log(log_path) as log:
            task.has_log = True
            if task.attempts > 1:
                log.write(f"\n--- attempt {task.attempts} ---\n".encode())
            elif log.tell() > 0:
                log.write(f"\n--- run attempt {self.recorder.run_attempt} ---\n".encode())
            needs = kubernetes_needs(self.platform_spec, call.component.get("executorLabel", ""))
            if needs:
                note = "; ".join(needs)
                log.write(f"[jupyter-dsp] not provided here (Kubernetes only): {note}\n".encode())
            packages = prologue.packages
            if prologue.present:
                # compiled with a newer kfp than the server's: its runtime, as on a cluster
                newer_kfp = runtime_kfp_requirement(full)
                packages = (*packages, newer_kfp) if newer_kfp else packages
            python = self._python_for(packages, _index_urls(full[2]), log)
        if len(command) > 2 and command[0] == "sh" and command[1] in ("-c", "-ec"):
            # the launcher script runs ``python3 -m kfp.dsl.executor_main``: this Python
            command[2] = _PYTHON3.sub(shlex.quote(python), command[2])
        ei = executor_input.build(call.component, call.parameters, call.artifacts, task_root)
        try:
            resolved = resolve_command(command, PlaceholderContext(ei, call.placeholders))
        except PlaceholderError as exc:
            raise StepError(str(exc)) from None
        env = {
            e["name"]: fill(str(e.get("value", "")), PlaceholderContext(ei, call.placeholders))
            for e in container.get("env") or []
            if e.get("name")
        }
        with self.slots:
            code = self.launcher.run(resolved, log_path, {**self.options.extra_env, **env})
        if code != 0:
            how = f"signal {-code}" if code < 0 else f"exit code {code}"
            raise StepError(how + last_error_line(log_path), self._written(call, ei))
        try:
            parameters, artifacts = executor_input.read_outputs(
                call.component, ei, self.launcher.outside_path
            )
        except (ValueError, OSError) as exc:
            raise StepError(str(exc)) from None
        return Outputs(parameters, artifacts)

    def _written(self, call: StepCall, ei: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        """The output artifacts a failed step wrote before it failed (files that exist)."""
        try:
            found = executor_input.read_output_artifacts(
                call.component, ei, self.launcher.outside_path, {}
            )
        except (ValueError, OSError):
            return {}
        kept = {}
        for name, items in found.items():
            present = [a for a in items if _written_file(str(a.get("uri", "")))]
            if present:
                kept[name] = present
        return kept

    def _python_for(self, packages: tuple[str, ...], index_urls: list[str], log: Any) -> str:
        if not packages:
            return self.launcher.python
        if self.options.environments is None:
            raise StepError(
                "the step installs packages (" + ", ".join(packages) + ") and the embedded "
                "stack has no step environments"
            )
        from jupyter_dsp.stack.runner.environments import EnvironmentBuildError

        try:
            return str(self.options.environments.python_for(list(packages), index_urls, log))
        except EnvironmentBuildError as exc:
            raise StepError(exc.message) from None

    def _import(self, call: StepCall, importer: dict[str, Any], task_root: Path) -> Outputs:
        from jupyter_dsp.stack.runner.importer import ImporterError, import_artifact

        source = importer.get("artifactUri") or {}
        if "runtimeParameter" in source:
            uri = call.parameters.get(source["runtimeParameter"])
        else:
            uri = source.get("constant")
        if not isinstance(uri, str) or not uri:
            raise StepError(f"importer '{call.key}' has no URI")
        schema = importer.get("typeSchema") or {}
        ctx = PlaceholderContext({"inputs": {"parameterValues": call.parameters}}, {})
        metadata = _fill_struct(importer.get("metadata") or {}, ctx)
        dest = task_root / "artifact"
        try:
            path = import_artifact(uri, dest, metadata)
        except ImporterError as exc:
            raise StepError(f"importer '{call.key}': {exc.reason}") from None
        self.launcher.prepare_output_dir(task_root)
        artifact = {
            "name": "artifact",
            "uri": str(path),
            "schema_title": schema.get("schemaTitle") or "system.Artifact",
            "schema_version": schema.get("schemaVersion") or "0.0.1",
            "metadata": metadata,
        }
        return Outputs({}, {"artifact": [artifact]})

    def _container(self, call: StepCall, executor: dict[str, Any], task_root: Path) -> Outputs:
        from jupyter_dsp.stack.runner.containers import ContainerEngineError, run_container_step

        try:
            # kfp.local's configuration is process-wide: one container step at a time
            with self.container_lock:
                result = run_container_step(
                    call.key,
                    call.component,
                    call.component.get("executorLabel", ""),
                    executor,
                    call.parameters,
                    call.artifacts,
                    task_root,
                )
        except ContainerEngineError as exc:
            raise StepError(exc.message) from None
        except Exception as exc:
            raise StepError(f"{type(exc).__name__}: {exc}") from None
        return Outputs(dict(result.get("parameters") or {}), dict(result.get("artifacts") or {}))


def _fill_struct(value: Any, ctx: PlaceholderContext) -> Any:
    if isinstance(value, str):
        try:
            return fill(value, ctx)
        except PlaceholderError:
            return value
    if isinstance(value, dict):
        return {k: _fill_struct(v, ctx) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill_struct(v, ctx) for v in value]
    return value
