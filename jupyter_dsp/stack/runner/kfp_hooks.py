"""Observation points in ``kfp.local`` (2.17), installed in a run's worker process only.

``kfp.local`` orchestrates a compiled pipeline in-process and runs each step as a
subprocess; it reports through its log only. To give the stack per-task states, times,
inputs, outputs and log files, the worker wraps a few module-level functions of kfp.local
(its orchestrators call them through the module, so wrapping the attribute is enough):

- ``enhanced_dag_orchestrator.execute_task``: a task whose component is a DAG (sub-pipeline,
  condition branch, exit handler, loop iteration) becomes a ``dag`` task, parent of the tasks
  it runs;
- ``enhanced_dag_orchestrator._run_parallel_for_task``: a ParallelFor becomes a ``loop``
  task whose children are its iterations;
- ``task_executor.execute_single_task``: a step becomes an ``executor`` task (retries of a
  step are attempts of the same task);
- ``task_dispatcher.run_single_task_implementation``: records the arguments of an attempt;
- ``subprocess_task_handler.SubprocessTaskHandler``: replaced by :class:`StepHandler`, which
  drops the ``pip install`` prologue and writes the step's output to the task's log file;
- ``pipeline_orchestrator.log_and_maybe_raise_for_failure``: tells that the pipeline failed.

The parent of a task is carried in a ``ContextVar``; the thread pool kfp.local uses for
loop iterations is given a ``submit`` that copies the caller's context.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import functools
import inspect
import logging
import os
import re
import subprocess
import sys
import threading
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jupyter_dsp.stack.runner.model import (
    FAILED,
    RUNNING,
    SKIPPED,
    SUCCEEDED,
    TaskRecord,
    now_us,
)
from jupyter_dsp.stack.runner.prologue import strip_prologue

_parent: contextvars.ContextVar[str] = contextvars.ContextVar("dsp_parent_task", default="")
_current: contextvars.ContextVar[str] = contextvars.ContextVar("dsp_current_task", default="")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.~-]+")


def _jsonable(value: Any) -> Any:
    """Parameters as they are; artifacts as ``{"name", "uri", "schema_title", "metadata"}``."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    uri = getattr(value, "uri", None)
    if uri is not None:
        return {
            "name": getattr(value, "name", "") or "",
            "uri": uri,
            "schema_title": getattr(type(value), "schema_title", "") or "",
            "metadata": _jsonable(getattr(value, "metadata", {}) or {}),
        }
    return repr(value)


def _is_artifact(value: Any) -> bool:
    if isinstance(value, list):
        return bool(value) and all(_is_artifact(v) for v in value)
    return hasattr(value, "uri") and hasattr(value, "schema_title")


def split_values(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    params: dict[str, Any] = {}
    artifacts: dict[str, list[dict[str, Any]]] = {}
    for key, value in (values or {}).items():
        if _is_artifact(value):
            items = value if isinstance(value, list) else [value]
            artifacts[key] = [_jsonable(v) for v in items]
        else:
            params[key] = _jsonable(value)
    return params, artifacts


class Recorder:
    """Keeps the run's tasks and sends each change to ``emit`` (thread-safe)."""

    def __init__(
        self, emit: Callable[[dict[str, Any]], None], logs_dir: Path, run_attempt: int = 1
    ) -> None:
        self._emit = emit
        self.logs_dir = logs_dir
        self.run_attempt = run_attempt
        self._lock = threading.RLock()
        self.tasks: dict[str, TaskRecord] = {}
        self.failed = False
        self.fail_stack: list[str] = []

    def log_path(self, task_id: str) -> Path:
        return self.logs_dir / f"{task_id}.log"

    def _new_id(self, parent_id: str, name: str) -> str:
        short = name
        parent = self.tasks.get(parent_id)
        if parent is not None and parent.kind == "loop" and name.startswith(parent.name + "-"):
            short = name[len(parent.name) + 1 :]  # "iteration-3"
        base = _UNSAFE.sub("-", short).strip("-.") or "task"
        task_id = f"{parent_id}.{base}" if parent_id else base
        candidate, n = task_id, 2
        while candidate in self.tasks:
            candidate, n = f"{task_id}-{n}", n + 1
        return candidate

    def open(self, name: str, display_name: str, kind: str) -> TaskRecord:
        parent_id = _parent.get()
        with self._lock:
            task_id = self._new_id(parent_id, name)
            t = now_us()
            task = TaskRecord(
                task_id=task_id,
                name=name,
                display_name=display_name or name,
                kind=kind,
                state=RUNNING,
                parent_task_id=parent_id,
                create_time=t,
                start_time=t,
            )
            self.tasks[task_id] = task
            parent = self.tasks.get(parent_id)
            if parent is not None:
                parent.child_task_ids.append(task_id)
                self.send(parent)
            self.send(task)
            return task

    def skipped(self, name: str, reason: str) -> None:
        """A task the orchestrator did not run (condition false, or an upstream failed)."""
        task = self.open(name, name, "skipped")
        with self._lock:
            task.state = SKIPPED
            task.end_time = task.start_time
            task.error = reason
            self.send(task)

    def close(self, task: TaskRecord, ok: bool, error: str = "") -> None:
        with self._lock:
            task.state = SUCCEEDED if ok else FAILED
            task.end_time = now_us()
            if not ok and not task.error:
                task.error = error or self._failure_text(task)
            self.send(task)

    def closing_on_error(self, task: TaskRecord, call: Callable[[], Any]) -> Any:
        """``call()``; when it raises, the task is closed as failed with the exception, which
        goes on to kfp.local."""
        try:
            return call()
        except BaseException as exc:
            self.close(task, False, f"{type(exc).__name__}: {exc}")
            raise

    def close_with_outputs(self, task: TaskRecord, outputs: Any, ok: bool) -> None:
        if ok:
            task.outputs, task.output_artifacts = split_values(outputs)
        self.close(task, ok)

    def send(self, task: TaskRecord) -> None:
        with self._lock:
            self._emit({"event": "task", "task": task.to_dict()})

    def _failure_text(self, task: TaskRecord) -> str:
        if task.kind != "executor":
            failed = [
                self.tasks[c].display_name
                for c in task.child_task_ids
                if c in self.tasks and self.tasks[c].state == FAILED
            ]
            return "inner task failed: " + ", ".join(failed) if failed else "a task failed"
        return "the step failed" + _last_line(self.log_path(task.task_id))

    def first_failure(self) -> str:
        """A message for the run's error: the first failed step and its last log line."""
        with self._lock:
            steps = [t for t in self.tasks.values() if t.kind == "executor" and t.state == FAILED]
            if not steps:
                steps = [t for t in self.tasks.values() if t.state == FAILED and t.error]
            if steps:
                first = min(steps, key=lambda t: t.end_time)
                return f"task '{first.display_name}' ({first.task_id}) failed: {first.error}"
        if self.fail_stack:
            return "task failed: " + " inside ".join(self.fail_stack)
        return "the pipeline failed"


def _last_line(path: Path) -> str:
    """``": <exception line>"`` from the end of a step's log when it ends with a traceback."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 16384))
            tail = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = tail.splitlines()
    starts = [i for i, ln in enumerate(lines) if ln.startswith("Traceback (most recent call last)")]
    if not starts:
        return ""
    after = [ln.strip() for ln in lines[starts[-1] + 1 :] if ln.strip() and not ln[:1].isspace()]
    return f": {after[-1][:500]}" if after else ""


_recorder: Recorder | None = None


def _bind(
    func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    bound = inspect.signature(func).bind_partial(*args, **kwargs)
    return dict(bound.arguments)


def _display_name(task_name: str, task_spec: Any) -> str:
    info = getattr(task_spec, "task_info", None)
    name = getattr(info, "name", "") if info is not None else ""
    if "-iteration-" in task_name and name and "-iteration-" not in name:
        return f"{name} #{task_name.rsplit('-iteration-', 1)[1]}"
    return name or task_name


def _integers_as_int(component_spec: Any, arguments: dict[str, Any]) -> dict[str, Any]:
    """Integer inputs that went through protobuf (defaults, JSON numbers) as ``int``, for the
    task's recorded inputs (kfp.local casts them the same way in the step's executor input)."""
    from kfp.pipeline_spec import pipeline_spec_pb2

    integer = pipeline_spec_pb2.ParameterType.NUMBER_INTEGER
    definitions = component_spec.input_definitions.parameters
    fixed = dict(arguments)
    for name, value in arguments.items():
        if (
            name in definitions
            and definitions[name].parameter_type == integer
            and isinstance(value, float)
            and value.is_integer()
        ):
            fixed[name] = int(value)
    return fixed


def _whole_numbers_as_int(value: Any) -> Any:
    """Whole doubles inside lists and structs as ints, as the cluster's Go driver writes them
    (protojson prints 2.0 as ``2``; Python's json_format prints ``2.0``, and a step typed
    ``List[int]`` would then get floats)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_whole_numbers_as_int(v) for v in value]
    if isinstance(value, dict):
        return {k: _whole_numbers_as_int(v) for k, v in value.items()}
    return value


_SKIP_CONDITION = re.compile(r"^Skipping conditional task (\S+) \(condition evaluated to False\)")
_SKIP_UPSTREAM = re.compile(r"^Skipping task (\S+): upstream task\(s\) (.*) failed\.")


class _SkipWatcher(logging.Filter):
    """Turns kfp.local's "Skipping ... task" log records into SKIPPED tasks (logs them too).

    The record is made in the DAG's own thread, so the task's parent is the current one.
    """

    def __init__(self, recorder: Recorder) -> None:
        super().__init__()
        self.recorder = recorder

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if match := _SKIP_CONDITION.match(message):
            self.recorder.skipped(match.group(1), "")
        elif match := _SKIP_UPSTREAM.match(message):
            self.recorder.skipped(match.group(1), f"upstream task(s) {match.group(2)} failed")
        return True


class _ContextPool(concurrent.futures.ThreadPoolExecutor):
    """A thread pool whose tasks run in a copy of the submitter's context."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        ctx = contextvars.copy_context()
        return super().submit(ctx.run, fn, *args, **kwargs)


def _run_in(task: TaskRecord, call: Callable[[], Any]) -> Any:
    token = _parent.set(task.task_id)
    try:
        return call()
    finally:
        _parent.reset(token)


def install(recorder: Recorder) -> None:
    """Wrap kfp.local's functions so that ``recorder`` sees every task (worker only)."""
    global _recorder
    _recorder = recorder
    recorder.logs_dir.mkdir(parents=True, exist_ok=True)

    from kfp.local import (
        executor_input_utils,
        pipeline_orchestrator,
        status,
        subprocess_task_handler,
        task_dispatcher,
    )
    from kfp.local.orchestrator import enhanced_dag_orchestrator as enhanced
    from kfp.local.orchestrator import task_executor

    enhanced.concurrent = types.SimpleNamespace(
        futures=types.SimpleNamespace(
            ThreadPoolExecutor=_ContextPool, as_completed=concurrent.futures.as_completed
        )
    )

    original_execute_task = enhanced.execute_task

    @functools.wraps(original_execute_task)
    def execute_task(*args: Any, **kwargs: Any) -> Any:
        a = _bind(original_execute_task, args, kwargs)
        spec = a["components"][a["task_spec"].component_ref.name]
        if spec.WhichOneof("implementation") != "dag":
            return original_execute_task(*args, **kwargs)
        task = recorder.open(a["task_name"], _display_name(a["task_name"], a["task_spec"]), "dag")
        outputs, task_status = recorder.closing_on_error(
            task, lambda: _run_in(task, lambda: original_execute_task(*args, **kwargs))
        )
        recorder.close_with_outputs(task, outputs, task_status == status.Status.SUCCESS)
        return outputs, task_status

    enhanced.execute_task = execute_task

    original_parallel_for = enhanced._run_parallel_for_task

    @functools.wraps(original_parallel_for)
    def run_parallel_for(*args: Any, **kwargs: Any) -> Any:
        a = _bind(original_parallel_for, args, kwargs)
        task = recorder.open(a["task_name"], _display_name(a["task_name"], a["task_spec"]), "loop")
        failed = recorder.closing_on_error(
            task, lambda: _run_in(task, lambda: original_parallel_for(*args, **kwargs))
        )
        recorder.close(task, not failed)
        return failed

    enhanced._run_parallel_for_task = run_parallel_for

    original_single = task_executor.execute_single_task

    @functools.wraps(original_single)
    def execute_single_task(*args: Any, **kwargs: Any) -> Any:
        a = _bind(original_single, args, kwargs)
        task = recorder.open(
            a["task_name"], _display_name(a["task_name"], a["task_spec"]), "executor"
        )
        token = _current.set(task.task_id)
        try:
            outputs, task_status = recorder.closing_on_error(
                task, lambda: original_single(*args, **kwargs)
            )
        finally:
            _current.reset(token)
        recorder.close_with_outputs(task, outputs, task_status == status.Status.SUCCESS)
        return outputs, task_status

    task_executor.execute_single_task = execute_single_task

    original_dispatch = task_dispatcher.run_single_task_implementation

    @functools.wraps(original_dispatch)
    def run_single_task_implementation(*args: Any, **kwargs: Any) -> Any:
        a = _bind(original_dispatch, args, kwargs)
        task = recorder.tasks.get(_current.get())
        if task is not None:
            task.attempts += 1
            arguments = _integers_as_int(a["component_spec"], a.get("arguments") or {})
            task.inputs, task.input_artifacts = split_values(arguments)
            recorder.send(task)
        return original_dispatch(*args, **kwargs)

    task_dispatcher.run_single_task_implementation = run_single_task_implementation

    original_failure = pipeline_orchestrator.log_and_maybe_raise_for_failure

    @functools.wraps(original_failure)
    def log_failure(*args: Any, **kwargs: Any) -> Any:
        a = _bind(original_failure, args, kwargs)
        recorder.failed = True
        recorder.fail_stack = list(a.get("fail_stack") or [])
        return original_failure(*args, **kwargs)

    pipeline_orchestrator.log_and_maybe_raise_for_failure = log_failure
    logging.getLogger().addFilter(_SkipWatcher(recorder))

    original_to_dict = executor_input_utils.executor_input_to_dict

    @functools.wraps(original_to_dict)
    def executor_input_to_dict(*args: Any, **kwargs: Any) -> Any:
        data = original_to_dict(*args, **kwargs)
        values = data.get("inputs", {}).get("parameterValues", {})
        for name, value in values.items():
            if isinstance(value, (list, dict)):
                values[name] = _whole_numbers_as_int(value)
        return data

    executor_input_utils.executor_input_to_dict = executor_input_to_dict

    class StepHandler(subprocess_task_handler.SubprocessTaskHandler):
        """Runs a lightweight Python step with the installed Python and kfp, logging to a file."""

        def run(self) -> Any:
            task = recorder.tasks.get(_current.get())
            log_path = recorder.log_path(task.task_id) if task else recorder.logs_dir / "_.log"
            with open(log_path, "ab", buffering=0) as log:
                if task is not None:
                    task.has_log = True
                    if task.attempts > 1:
                        log.write(f"\n--- attempt {task.attempts} ---\n".encode())
                    elif log.tell() > 0:  # the run is retried: its tasks keep their ids
                        log.write(f"\n--- run attempt {recorder.run_attempt} ---\n".encode())
                try:
                    command = strip_prologue(self.full_command)
                except ValueError as exc:
                    log.write(f"{exc}\n".encode())
                    if task is not None:
                        task.error = str(exc)
                    return status.Status.FAILURE
                command = subprocess_task_handler.replace_python_executable(command, sys.executable)
                env = {**os.environ, **self.env_vars, "PYTHONUNBUFFERED": "1"}
                with subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                ) as process:
                    code = process.wait()
            if code != 0 and task is not None:
                task.error = f"exit code {code}" + _last_line(log_path)
            return status.Status.SUCCESS if code == 0 else status.Status.FAILURE

    subprocess_task_handler.SubprocessTaskHandler = StepHandler
