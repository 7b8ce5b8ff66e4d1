"""The worker's record of a run's tasks: every change goes out as an event at once.

A task is a step (``executor``), a sub-DAG (``dag``: nested pipeline, condition branch, exit
handler body, loop iteration) or a loop (``loop``). Ids are URL-safe, unique in the run and
stable across attempts of the run (a retried run's tasks keep their ids and logs): the task's
key in its DAG, prefixed by its parent's id; a loop's iterations are ``iteration-<i>``.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jupyter_dsp.stack.runner.model import (
    FAILED,
    PENDING,
    RUNNING,
    SKIPPED,
    TaskRecord,
    now_us,
)

_UNSAFE = re.compile(r"[^A-Za-z0-9_.~-]+")


def public_artifact(artifact: dict[str, Any]) -> dict[str, Any]:
    """An artifact as task records carry it."""
    return {
        "name": artifact.get("name", ""),
        "uri": artifact.get("uri", ""),
        "schema_title": artifact.get("schema_title", ""),
        "metadata": artifact.get("metadata") or {},
    }


def public_artifacts(artifacts: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict]]:
    return {name: [public_artifact(a) for a in items] for name, items in artifacts.items()}


class Recorder:
    """Keeps the run's tasks and sends each change to ``emit`` (thread-safe)."""

    def __init__(
        self, emit: Callable[[dict[str, Any]], None], logs_dir: Path, run_attempt: int = 1
    ) -> None:
        self._emit = emit
        self.logs_dir = logs_dir
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self.run_attempt = run_attempt
        self._lock = threading.RLock()
        self.tasks: dict[str, TaskRecord] = {}
        self._last_create = 0

    def log_path(self, task_id: str) -> Path:
        return self.logs_dir / f"{task_id}.log"

    def new_id(self, parent_id: str, key: str) -> str:
        base = _UNSAFE.sub("-", key).strip("-.") or "task"
        task_id = f"{parent_id}.{base}" if parent_id else base
        with self._lock:
            candidate, n = task_id, 2
            while candidate in self.tasks:
                candidate, n = f"{task_id}-{n}", n + 1
            return candidate

    def open(
        self,
        parent_id: str,
        key: str,
        display_name: str,
        kind: str,
        *,
        state: str = RUNNING,
        iteration_index: int | None = None,
        task_id: str = "",
    ) -> TaskRecord:
        with self._lock:
            if not task_id or task_id in self.tasks:
                task_id = self.new_id(parent_id, key)
            # strictly increasing: the API lists tasks by create_time, so tasks opened in a
            # row (a loop's iterations) keep that order even within one microsecond
            t = self._last_create = max(now_us(), self._last_create + 1)
            task = TaskRecord(
                task_id=task_id,
                name=key,
                display_name=display_name or key,
                kind=kind,
                state=state,
                parent_task_id=parent_id,
                create_time=t,
                start_time=t if state != PENDING else 0,
                iteration_index=iteration_index,
            )
            self.tasks[task_id] = task
            parent = self.tasks.get(parent_id)
            if parent is not None:
                parent.child_task_ids.append(task_id)
                self.send(parent)
            self.send(task)
            return task

    def start(self, task: TaskRecord) -> None:
        with self._lock:
            task.state = RUNNING
            task.start_time = task.start_time or now_us()
            self.send(task)

    def skipped(self, parent_id: str, key: str, display_name: str, reason: str) -> TaskRecord:
        task = self.open(parent_id, key, display_name, "skipped")
        with self._lock:
            task.state = SKIPPED
            task.end_time = task.start_time
            task.error = reason
            self.send(task)
        return task

    def close(self, task: TaskRecord, state: str, error: str = "") -> None:
        with self._lock:
            task.state = state
            task.end_time = now_us()
            if state == FAILED and not task.error:
                task.error = error or self._failure_text(task)
            self.send(task)

    def send(self, task: TaskRecord) -> None:
        with self._lock:
            self._emit({"event": "task", "task": task.to_dict()})

    def _failure_text(self, task: TaskRecord) -> str:
        failed = [
            self.tasks[c].display_name
            for c in task.child_task_ids
            if c in self.tasks and self.tasks[c].state == FAILED
        ]
        return "inner task failed: " + ", ".join(failed) if failed else "a task failed"

    def first_failure(self) -> str:
        """A message for the run's error: the first failed step and its reason."""
        with self._lock:
            steps = [t for t in self.tasks.values() if t.kind == "executor" and t.state == FAILED]
            if not steps:
                steps = [t for t in self.tasks.values() if t.state == FAILED and t.error]
            if steps:
                first = min(steps, key=lambda t: t.end_time)
                return f"task '{first.display_name}' ({first.task_id}) failed: {first.error}"
        return "the pipeline failed"


def last_error_line(path: Path) -> str:
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
