"""Walking a compiled pipeline's DAGs: order, conditions, loops, sub-DAGs, exit handlers.

- A task starts once every task it depends on (``dependentTasks`` and the producers of its
  inputs) has finished. When one of them FAILED (or was canceled), the task is SKIPPED,
  unless its ``triggerPolicy.strategy`` is ``ALL_UPSTREAM_TASKS_COMPLETED`` (exit handlers,
  ``ignore_upstream_failure``): then it runs, with defaults for the inputs that are missing.
- ``triggerPolicy.condition`` is evaluated over the task's inputs; false means SKIPPED.
- ``parameterIterator`` / ``artifactIterator``: a loop (ParallelFor) whose iterations run the
  body DAG, at most ``iteratorPolicy.parallelismLimit`` at a time; the loop's outputs collect
  the iterations' (``dsl.Collected``: a list of values, the artifacts of every iteration).
- A component with a ``dag`` is a sub-DAG task (nested pipeline, condition branch, exit
  handler body); a DAG fails when one of its tasks failed.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jupyter_dsp.stack.runner.conditions import ConditionError, evaluate
from jupyter_dsp.stack.runner.inputs import (
    InputError,
    Outputs,
    Result,
    Scope,
    apply_defaults,
    dag_outputs,
    producers,
    resolve_task_inputs,
)
from jupyter_dsp.stack.runner.model import (
    CANCELED,
    FAILED,
    PENDING,
    SKIPPED,
    SUCCEEDED,
    TaskRecord,
)
from jupyter_dsp.stack.runner.placeholders import PlaceholderContext
from jupyter_dsp.stack.runner.recording import Recorder, public_artifacts

ALL_COMPLETED = "ALL_UPSTREAM_TASKS_COMPLETED"
BAD = (FAILED, CANCELED)


@dataclass
class StepCall:
    """One executor task to run (what :mod:`steps` needs)."""

    key: str
    task_spec: dict[str, Any]
    component: dict[str, Any]
    parameters: dict[str, Any]
    artifacts: dict[str, list[dict[str, Any]]]
    task_id: str
    placeholders: dict[str, str]
    parent_id: str = ""


StepRunner = Callable[[StepCall], Result]


def _display(task: dict[str, Any], key: str) -> str:
    return str((task.get("taskInfo") or {}).get("name") or key)


class DagWalker:
    def __init__(
        self,
        pipeline_spec: dict[str, Any],
        recorder: Recorder,
        run_step: StepRunner,
        pipeline_placeholders: Callable[[str, str], dict[str, str]],
        job_resource_name: str,
    ) -> None:
        self.spec = pipeline_spec
        self.components = pipeline_spec.get("components") or {}
        self.recorder = recorder
        self.run_step = run_step
        self.pipeline_placeholders = pipeline_placeholders  # (task key, task id) -> values
        self.job_resource_name = job_resource_name

    # ----- DAGs --------------------------------------------------------------------------

    def run_dag(self, component: dict[str, Any], scope: Scope, parent_id: str) -> Result:
        """Run every task of a DAG component; the result carries the DAG's outputs."""
        tasks: dict[str, dict[str, Any]] = (component.get("dag") or {}).get("tasks") or {}
        waits = {key: producers(t) & set(tasks) for key, t in tasks.items()}
        results: dict[str, Result] = {}
        lock = threading.Condition()
        started: set[str] = set()
        threads: list[threading.Thread] = []

        def finish(key: str, result: Result) -> None:
            with lock:
                results[key] = result
                lock.notify_all()

        def work(key: str) -> None:
            try:
                with lock:
                    upstream = {k: results[k] for k in waits[key]}
                    snapshot = dict(results)
                result = self.run_task(key, tasks[key], scope, snapshot, upstream, parent_id)
            except Exception as exc:  # a bug must not hang the DAG
                result = Result(FAILED, error=f"{type(exc).__name__}: {exc}", name=key)
            finish(key, result)

        with lock:
            while len(results) < len(tasks):
                ready = [
                    k for k in tasks if k not in started and all(w in results for w in waits[k])
                ]
                for key in sorted(ready):
                    started.add(key)
                    thread = threading.Thread(target=work, args=(key,), daemon=True)
                    threads.append(thread)
                    thread.start()
                if len(results) < len(tasks):
                    if not ready and len(started) == len(results):
                        cycle = sorted(set(tasks) - set(results))
                        for key in cycle:
                            results[key] = Result(FAILED, error="dependency cycle", name=key)
                        break
                    lock.wait()
        for thread in threads:
            thread.join()
        failed = [r for r in results.values() if r.state in BAD]
        outputs = dag_outputs(component, results)
        if failed:
            return Result(FAILED, outputs, error=failed[0].error)
        return Result(SUCCEEDED, outputs)

    # ----- one task ----------------------------------------------------------------------

    def run_task(
        self,
        key: str,
        task: dict[str, Any],
        scope: Scope,
        results: dict[str, Result],
        upstream: dict[str, Result],
        parent_id: str,
    ) -> Result:
        display = _display(task, key)
        policy = task.get("triggerPolicy") or {}
        bad = sorted(k for k, r in upstream.items() if r.state in BAD)
        if bad and policy.get("strategy") != ALL_COMPLETED:
            reason = f"upstream task(s) {', '.join(bad)} failed"
            self.recorder.skipped(parent_id, key, display, reason)
            return Result(SKIPPED, error=reason, name=key)
        component = self.components.get((task.get("componentRef") or {}).get("name", ""), {})
        task_id = self.recorder.new_id(parent_id, key)
        values = self.pipeline_placeholders(key, task_id)
        params, artifacts, missing = resolve_task_inputs(
            task, scope, results, PlaceholderContext({}, values), self.job_resource_name
        )
        if policy.get("condition"):
            try:
                go = evaluate(policy["condition"], params)
            except ConditionError as exc:
                return self._fail_now(parent_id, key, display, str(exc))
            if not go:
                self.recorder.skipped(parent_id, key, display, "condition is false")
                return Result(SKIPPED, name=key)
        iterator = task.get("parameterIterator") or task.get("artifactIterator")
        try:
            if iterator is None:
                apply_defaults(component, params, artifacts, missing)
        except InputError as exc:
            return self._fail_now(parent_id, key, display, str(exc))
        if iterator is not None:
            return self.run_loop(key, task, component, params, artifacts, missing, parent_id)
        if "dag" in component:
            return self._sub_dag(key, display, component, params, artifacts, parent_id)
        call = StepCall(key, task, component, params, artifacts, task_id, values, parent_id)
        result = self.run_step(call)
        result.name = key
        return result

    def _fail_now(self, parent_id: str, key: str, display: str, error: str) -> Result:
        record = self.recorder.open(parent_id, key, display, "executor")
        self.recorder.close(record, FAILED, error)
        return Result(FAILED, error=error, name=key)

    def _sub_dag(
        self,
        key: str,
        display: str,
        component: dict[str, Any],
        params: dict[str, Any],
        artifacts: dict[str, list[dict[str, Any]]],
        parent_id: str,
        iteration_index: int | None = None,
        record: TaskRecord | None = None,
    ) -> Result:
        if record is None:
            record = self.recorder.open(
                parent_id, key, display, "dag", iteration_index=iteration_index
            )
        else:  # opened PENDING beforehand (a loop's iteration): it starts now
            self.recorder.start(record)
        record.inputs = dict(params)
        record.input_artifacts = public_artifacts(artifacts)
        result = self.run_dag(component, Scope(params, artifacts), record.task_id)
        record.outputs = dict(result.outputs.parameters)
        record.output_artifacts = public_artifacts(result.outputs.artifacts)
        self.recorder.close(record, result.state)
        result.name = key
        return result

    # ----- loops -------------------------------------------------------------------------

    def run_loop(
        self,
        key: str,
        task: dict[str, Any],
        component: dict[str, Any],
        params: dict[str, Any],
        artifacts: dict[str, list[dict[str, Any]]],
        missing: dict[str, str],
        parent_id: str,
    ) -> Result:
        display = _display(task, key)
        try:
            items, item_input, is_artifact = self._loop_items(task, params, artifacts, missing)
        except InputError as exc:
            return self._fail_now(parent_id, key, display, str(exc))
        loop = self.recorder.open(parent_id, key, display, "loop")
        loop.inputs = dict(params)
        limit = int((task.get("iteratorPolicy") or {}).get("parallelismLimit") or 0)
        gate = threading.BoundedSemaphore(limit) if limit > 0 else None
        results: list[Result | None] = [None] * len(items)
        # every iteration is listed at once, by index (as KFP lists them), PENDING until its
        # turn: the loop's child_task_ids and the API's task order never depend on which
        # iteration's thread starts first
        records = [
            self.recorder.open(
                loop.task_id,
                f"iteration-{index}",
                f"{display} #{index}",
                "dag",
                state=PENDING,
                iteration_index=index,
            )
            for index in range(len(items))
        ]

        def iterate(index: int, item: Any) -> None:
            scope_params = dict(params)
            scope_artifacts = dict(artifacts)
            if is_artifact:
                scope_artifacts[item_input] = [item]
            else:
                scope_params[item_input] = item
            if gate is not None:
                gate.acquire()
            try:
                results[index] = self._sub_dag(
                    f"iteration-{index}",
                    f"{display} #{index}",
                    component,
                    scope_params,
                    scope_artifacts,
                    loop.task_id,
                    iteration_index=index,
                    record=records[index],
                )
            except Exception as exc:
                results[index] = Result(FAILED, error=f"{type(exc).__name__}: {exc}")
                if records[index].state not in (SUCCEEDED, FAILED, SKIPPED, CANCELED):
                    self.recorder.close(records[index], FAILED, f"{type(exc).__name__}: {exc}")
            finally:
                if gate is not None:
                    gate.release()

        threads = [
            threading.Thread(target=iterate, args=(i, item), daemon=True)
            for i, item in enumerate(items)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        done = [r or Result(FAILED, error="iteration did not run") for r in results]
        outputs = _collect(component, done)
        loop.outputs = dict(outputs.parameters)
        loop.output_artifacts = public_artifacts(outputs.artifacts)
        failed = [r for r in done if r.state in BAD]
        state = FAILED if failed else SUCCEEDED
        self.recorder.close(loop, state)
        return Result(state, outputs, error=failed[0].error if failed else "", name=key)

    def _loop_items(
        self,
        task: dict[str, Any],
        params: dict[str, Any],
        artifacts: dict[str, list[dict[str, Any]]],
        missing: dict[str, str],
    ) -> tuple[list[Any], str, bool]:
        if "artifactIterator" in task:
            it = task["artifactIterator"]
            name = (it.get("items") or {}).get("inputArtifact", "")
            if name not in artifacts:
                raise InputError(missing.get(name) or f"loop items '{name}' have no value")
            return list(artifacts[name]), it.get("itemInput", ""), True
        it = task["parameterIterator"]
        source = it.get("items") or {}
        if "raw" in source:
            value: Any = source["raw"]
        else:
            name = source.get("inputParameter", "")
            if name not in params:
                raise InputError(missing.get(name) or f"loop items '{name}' have no value")
            value = params[name]
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise InputError(f"loop items {value!r} are not a JSON list") from None
        if not isinstance(value, list):
            raise InputError(f"loop items {value!r} are not a list")
        return value, it.get("itemInput", ""), False


def _collect(component: dict[str, Any], results: list[Result]) -> Outputs:
    """A loop's outputs: each output collected over its iterations (``dsl.Collected``)."""
    spec = (component.get("dag") or {}).get("outputs") or {}
    outputs = Outputs()
    for name in spec.get("parameters") or {}:
        values = [r.outputs.parameters[name] for r in results if name in r.outputs.parameters]
        outputs.parameters[name] = values
    for name in spec.get("artifacts") or {}:
        outputs.artifacts[name] = [a for r in results for a in r.outputs.artifacts.get(name, [])]
    return outputs
