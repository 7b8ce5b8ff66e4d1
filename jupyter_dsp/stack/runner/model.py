"""What the engine knows about a run and its tasks (plain data, JSON-friendly)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

PENDING = "PENDING"
RUNNING = "RUNNING"
SUCCEEDED = "SUCCEEDED"
SKIPPED = "SKIPPED"
FAILED = "FAILED"
CANCELING = "CANCELING"
CANCELED = "CANCELED"
CACHED = "CACHED"  # a step served from the step cache (tasks only)

FINAL_STATES = frozenset({SUCCEEDED, SKIPPED, FAILED, CANCELED, CACHED})


def now_us() -> int:
    """Microseconds since the epoch (the stack stores times this way)."""
    return time.time_ns() // 1000


@dataclass
class TaskRecord:
    """One task of a run: a step (``executor``), a sub-DAG (``dag``) or a loop (``loop``).

    ``task_id`` is URL-safe and unique within the run; ``parent_task_id`` is empty for the
    tasks of the root DAG. Loops list their iterations in ``child_task_ids``.
    """

    task_id: str
    name: str
    display_name: str
    kind: str
    state: str = PENDING
    parent_task_id: str = ""
    create_time: int = 0
    start_time: int = 0
    end_time: int = 0
    inputs: dict[str, Any] = field(default_factory=dict)  # parameter values
    outputs: dict[str, Any] = field(default_factory=dict)  # parameter values
    input_artifacts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    output_artifacts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    child_task_ids: list[str] = field(default_factory=list)
    error: str = ""
    attempts: int = 0
    has_log: bool = False
    iteration_index: int | None = None  # set on a loop's iterations
    cached: bool = False  # outputs reused (step cache, or a retried run's earlier attempt)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskRecord:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass
class RunSnapshot:
    """The engine's view of a run at one moment."""

    run_id: str
    state: str
    state_history: list[dict[str, Any]] = field(default_factory=list)  # {"state", "time", "error"?}
    scheduled_at: int = 0
    finished_at: int = 0
    error: str = ""
    outputs: dict[str, Any] = field(default_factory=dict)
    tasks: dict[str, TaskRecord] = field(default_factory=dict)
    attempt: int = 1
    pid: int | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["tasks"] = {k: v.to_dict() for k, v in self.tasks.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSnapshot:
        tasks = {k: TaskRecord.from_dict(v) for k, v in (data.get("tasks") or {}).items()}
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "tasks"}
        return cls(tasks=tasks, **known)
