"""The run engine: a bounded pool of worker processes, one per run.

Plain Python, no HTTP and no database: the stack's runs service calls :meth:`RunEngine.submit`,
:meth:`RunEngine.terminate` and :meth:`RunEngine.retry`, and persists what the engine reports
through its listener (called with the engine's lock held, in the order things happen; a
listener must not call back into the engine).

- A run beyond ``max_workers`` waits as PENDING, first in first out.
- A pipeline that needs a cluster fails at once (FAILED with the reason, no worker starts).
- Each worker runs in its own session: terminate sends SIGTERM to the run's process group,
  SIGKILL after ``terminate_grace`` seconds; the run ends CANCELED.
- When a worker ends, whatever it left behind in its process group is killed.
"""

from __future__ import annotations

import collections
import json
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_dsp.stack.runner import worker as worker_module
from jupyter_dsp.stack.runner.locality import NeedsClusterError, check_runs_locally
from jupyter_dsp.stack.runner.model import (
    CANCELED,
    CANCELING,
    FAILED,
    FINAL_STATES,
    PENDING,
    RUNNING,
    RunSnapshot,
    TaskRecord,
    now_us,
)
from jupyter_dsp.stack.runner.spec import PipelineDocument
from jupyter_dsp.stack.runner.worker_process import (
    Worker,
    default_workers,
    kill_if_alive,
    log_tail,
    signal_group,
    spawn_worker,
    write_private,
)

RunListener = Callable[[RunSnapshot], None]
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.~-]{0,127}$")
STACK_STOPPED = "the embedded stack stopped while the run was running"
KEEP_FINAL_RUNS = 256  # finished runs kept in memory (the rest only in the listener's storage)


@dataclass
class _Job:
    document: PipelineDocument
    parameters: dict[str, Any]
    namespace: str = ""


class RunEngine:
    def __init__(
        self,
        runs_dir: Path,
        *,
        max_workers: int | None = None,
        listener: RunListener | None = None,
        terminate_grace: float = 1.0,
        python: str = sys.executable,
        settings: dict[str, Any] | None = None,
    ) -> None:
        if max_workers is not None and max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self.runs_dir = Path(runs_dir)
        self.runs_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.max_workers = max_workers or default_workers()
        self.terminate_grace = terminate_grace
        self._python = python
        # what the workers read for their steps: data_dir (step cache, environments),
        # step_caching, python_in_containers, env_cache_bytes
        self.settings = {"data_dir": str(self.runs_dir.parent), **(settings or {})}
        self._listener = listener or (lambda snapshot: None)
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._runs: dict[str, RunSnapshot] = {}
        self._jobs: dict[str, _Job] = {}
        self._pending: collections.deque[str] = collections.deque()
        self._workers: dict[str, Worker] = {}
        self._closed = False
        self._settled: collections.deque[str] = collections.deque()  # final runs, oldest first
        # Workers start on this thread, so that submitting (a create-run call) never waits
        # for a process to be spawned.
        self._dispatcher = threading.Thread(
            target=self._dispatch_loop, name="dsp-run-dispatcher", daemon=True
        )
        self._dispatcher.start()

    # ----- queries -----------------------------------------------------------------------

    def run_dir(self, run_id: str) -> Path:
        if not SAFE_ID.match(run_id):
            raise ValueError(f"invalid run id {run_id!r}")
        return self.runs_dir / run_id

    def snapshot(self, run_id: str) -> RunSnapshot | None:
        with self._lock:
            snap = self._runs.get(run_id)
            return RunSnapshot.from_dict(snap.to_dict()) if snap else None

    def wait(self, run_id: str, timeout: float | None = None) -> RunSnapshot | None:
        """Block until the run is in a final state (or the timeout passes)."""
        with self._changed:
            self._changed.wait_for(
                lambda: run_id not in self._runs or self._runs[run_id].state in FINAL_STATES,
                timeout=timeout,
            )
        return self.snapshot(run_id)

    @property
    def running(self) -> int:
        with self._lock:
            return len(self._workers)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    # ----- commands ----------------------------------------------------------------------

    def submit(
        self,
        run_id: str,
        document: PipelineDocument,
        parameters: dict[str, Any],
        *,
        attempt: int = 1,
        history: list[dict[str, Any]] | None = None,
        namespace: str = "",
    ) -> RunSnapshot:
        """Queue a run whose parameters are already resolved; start it if a slot is free.

        ``history``: the run's state history so far, for a run queued again after a restart;
        ``namespace``: the run's namespace (its steps run as that namespace's identity, and
        their environments and cache entries are scoped to it; see run_context).
        """
        run_dir = self.run_dir(run_id)
        with self._lock:
            if self._closed:
                raise RuntimeError("the run engine is shut down")
            current = self._runs.get(run_id)
            if current is not None and current.state not in FINAL_STATES:
                raise ValueError(f"run {run_id} is still {current.state}")
            t = now_us()
            snap = RunSnapshot(run_id=run_id, state=PENDING, attempt=attempt)
            if current is not None:
                snap.state_history = list(current.state_history)
            elif history:
                snap.state_history = list(history)
            if not snap.state_history or snap.state_history[-1]["state"] != PENDING:
                snap.state_history.append({"state": PENDING, "time": t})
            self._runs[run_id] = snap
            self._jobs[run_id] = _Job(document, dict(parameters), namespace)
            try:
                check_runs_locally(document.pipeline_spec)
            except NeedsClusterError as exc:
                self._finish(snap, FAILED, str(exc))
                return self.snapshot(run_id)  # type: ignore[return-value]
            run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            job = {
                "run_id": run_id,
                "namespace": namespace,
                "pipeline_spec": document.pipeline_spec,
                "platform_spec": document.platform_spec,
                "parameters": parameters,
                "attempt": attempt,
                "settings": self.settings,
            }
            write_private(run_dir / worker_module.JOB_FILE, json.dumps(job))
            self._pending.append(run_id)
            self._emit(snap)
            self._changed.notify_all()  # wakes the dispatcher
            return self.snapshot(run_id)  # type: ignore[return-value]

    def retry(
        self,
        run_id: str,
        document: PipelineDocument | None = None,
        parameters: dict[str, Any] | None = None,
        *,
        attempt: int | None = None,
        namespace: str | None = None,
    ) -> RunSnapshot:
        """Run a FAILED or CANCELED run again; steps that succeeded come from its cache."""
        with self._lock:
            current = self._runs.get(run_id)
            job = self._jobs.get(run_id)
            if current is not None and current.state not in (FAILED, CANCELED):
                raise ValueError(
                    f"run {run_id} is {current.state}; only a failed or canceled run can be retried"
                )
            if document is None or parameters is None:
                if job is None:
                    raise ValueError(f"run {run_id} is unknown to the engine")
                document, parameters = job.document, job.parameters
            if attempt is None:
                attempt = (current.attempt if current else 1) + 1
            if namespace is None:
                namespace = job.namespace if job is not None else ""
            return self.submit(run_id, document, parameters, attempt=attempt, namespace=namespace)

    def adopt(self, snapshot: RunSnapshot) -> None:
        """Take a final run known from storage (after a restart) so that it can be retried."""
        with self._lock:
            if snapshot.run_id not in self._runs:
                self._runs[snapshot.run_id] = snapshot

    def terminate(self, run_id: str) -> RunSnapshot | None:
        """Cancel a run: a pending one at once, a running one by killing its process group."""
        with self._lock:
            snap = self._runs.get(run_id)
            if snap is None or snap.state in FINAL_STATES:
                return self.snapshot(run_id)
            if run_id in self._pending:
                self._pending.remove(run_id)
                self._finish(snap, CANCELED, "")
                return self.snapshot(run_id)
            worker = self._workers.get(run_id)
            if worker is None or worker.cancel_requested:
                return self.snapshot(run_id)
            worker.cancel_requested = True
            self._set_state(snap, CANCELING)
            self._emit(snap)
            pgid = worker.process.pid
            # the answer is the run as terminate left it (CANCELING): a step that dies at
            # once may be CANCELED before a later read
            answer = self.snapshot(run_id)
        signal_group(pgid, signal.SIGTERM)
        timer = threading.Timer(self.terminate_grace, kill_if_alive, (worker.process,))
        timer.daemon = True
        timer.start()
        return answer

    def forget(self, run_id: str) -> None:
        """Drop a final run from memory (after it was deleted)."""
        with self._lock:
            snap = self._runs.get(run_id)
            if snap is not None and snap.state in FINAL_STATES:
                del self._runs[run_id]
                self._jobs.pop(run_id, None)

    def shutdown(self) -> None:
        """Stop: kill every worker; their runs end FAILED (the stack stopped). Pending runs stay."""
        with self._lock:
            self._closed = True
            self._changed.notify_all()
            workers = list(self._workers.items())
            for run_id, _worker in workers:
                snap = self._runs[run_id]
                if snap.state not in FINAL_STATES:
                    self._finish(snap, FAILED, STACK_STOPPED)
        for _run_id, worker in workers:
            signal_group(worker.process.pid, signal.SIGKILL)
        for _run_id, worker in workers:
            try:
                worker.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    # ----- internals ---------------------------------------------------------------------

    def _emit(self, snap: RunSnapshot) -> None:
        self._listener(snap)
        self._changed.notify_all()

    def _set_state(self, snap: RunSnapshot, state: str, error: str = "") -> None:
        snap.state = state
        entry: dict[str, Any] = {"state": state, "time": now_us()}
        if error:
            entry["error"] = error
        snap.state_history.append(entry)

    def _finish(self, snap: RunSnapshot, state: str, error: str) -> None:
        self._set_state(snap, state, error)
        snap.error = error
        snap.finished_at = snap.state_history[-1]["time"]
        snap.pid = None
        for task in snap.tasks.values():
            if task.state not in FINAL_STATES:
                task.state = CANCELED if state == CANCELED else FAILED
                task.end_time = snap.finished_at
        self._emit(snap)
        self._settled.append(snap.run_id)
        while len(self._settled) > KEEP_FINAL_RUNS:
            old = self._settled.popleft()
            if old in self._runs and self._runs[old].state in FINAL_STATES:
                del self._runs[old]  # long persisted by the listener; adopt() brings it back
                self._jobs.pop(old, None)

    def _startable(self) -> str | None:
        """The first pending run that can start now (a retried run waits until the process
        of its previous attempt has exited)."""
        if len(self._workers) >= self.max_workers:
            return None
        return next((r for r in self._pending if r not in self._workers), None)

    def _dispatch_loop(self) -> None:
        with self._changed:
            while True:
                self._changed.wait_for(lambda: self._closed or self._startable() is not None)
                if self._closed:
                    return
                run_id = self._startable()
                assert run_id is not None
                self._pending.remove(run_id)
                snap = self._runs[run_id]
                try:
                    self._start(run_id, snap)
                except OSError as exc:
                    self._finish(snap, FAILED, f"the run's worker process could not start: {exc}")

    def _start(self, run_id: str, snap: RunSnapshot) -> None:
        run_dir = self.run_dir(run_id)
        (run_dir / "tmp").mkdir(exist_ok=True)
        process, events = spawn_worker(self._python, run_dir)
        worker = Worker(process=process, events=events, snap=snap)
        self._workers[run_id] = worker
        snap.tasks = {}
        snap.outputs = {}
        snap.error = ""
        snap.finished_at = 0
        snap.pid = process.pid
        snap.scheduled_at = snap.scheduled_at or now_us()
        self._set_state(snap, RUNNING)
        self._emit(snap)
        thread = threading.Thread(
            target=self._follow, args=(run_id, worker), name=f"run-{run_id}", daemon=True
        )
        thread.start()

    def _follow(self, run_id: str, worker: Worker) -> None:
        """Read a worker's events until it exits, then settle the run."""
        try:
            for line in worker.events:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                self._on_event(run_id, worker, event)
        finally:
            worker.events.close()
            # The worker has exited (its end of the pipe is closed): clear its group.
            signal_group(worker.process.pid, signal.SIGKILL)
            code = worker.process.wait()
            self._on_exit(run_id, worker, code)

    def _on_event(self, run_id: str, worker: Worker, event: dict[str, Any]) -> None:
        with self._lock:
            snap = worker.snap
            if self._runs.get(run_id) is not snap or snap.state in FINAL_STATES:
                return
            kind = event.get("event")
            if kind == "task":
                task = TaskRecord.from_dict(event.get("task") or {})
                snap.tasks[task.task_id] = task
                self._emit(snap)
            elif kind == "finished":
                worker.finished = event
                snap.outputs = event.get("outputs") or {}
                state = str(event.get("state"))
                if not (worker.cancel_requested and state == FAILED):
                    # final now; the process still holds its slot until it has exited
                    self._finish(snap, state, str(event.get("error") or ""))

    def _on_exit(self, run_id: str, worker: Worker, code: int) -> None:
        with self._lock:
            if self._workers.get(run_id) is worker:
                del self._workers[run_id]
            snap = worker.snap
            if self._runs.get(run_id) is snap and snap.state not in FINAL_STATES:
                finished = worker.finished
                if worker.cancel_requested and (
                    finished is None or finished.get("state") == FAILED
                ):
                    self._finish(snap, CANCELED, "")
                elif finished is not None:
                    self._finish(snap, str(finished.get("state")), str(finished.get("error") or ""))
                else:
                    how = f"signal {-code}" if code < 0 else f"exit code {code}"
                    tail = log_tail(self.run_dir(run_id) / "worker.log")
                    message = f"the run's worker process ended unexpectedly ({how})"
                    self._finish(snap, FAILED, message + (f": {tail}" if tail else ""))
            self._changed.notify_all()  # wakes the dispatcher
