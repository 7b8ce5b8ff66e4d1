"""Runs and tasks as KFP v2beta1 JSON (proto names, empty fields omitted, RFC 3339 times).

Task details follow ``v2beta1PipelineTaskDetail``. KFP keeps parameter values in ML Metadata,
which the embedded stack does not have, so each task also carries documented extra fields
(clients generated from the swagger ignore them): ``input_parameters`` and
``output_parameters`` (name -> value), ``input_artifacts`` and ``output_artifacts`` (name ->
list of ``{"name", "uri", "schema_title", "metadata"}``) and, for a loop's iterations,
``iteration_index``. A step served from the step cache has the state ``CACHED``.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from jupyter_dsp.stack.runner.model import RunSnapshot, TaskRecord

GRPC_UNKNOWN = 2


def rfc3339_us(us: int) -> str:
    """Microseconds since the epoch as RFC 3339 (fraction only when there is one)."""
    moment = datetime.fromtimestamp(us / 1_000_000, tz=timezone.utc)
    if us % 1_000_000:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _time(us: int) -> str | None:
    return rfc3339_us(us) if us else None


def _drop_empty(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v not in ("", None, {}, [])}


def _status(message: str) -> dict[str, Any] | None:
    return {"code": GRPC_UNKNOWN, "message": message} if message else None


def task_json(run_id: str, task: TaskRecord) -> dict[str, Any]:
    return _drop_empty(
        {
            "run_id": run_id,
            "task_id": task.task_id,
            "display_name": task.display_name,
            "create_time": _time(task.create_time),
            "start_time": _time(task.start_time),
            "end_time": _time(task.end_time),
            "executor_detail": {"main_job": task.task_id} if task.kind == "executor" else None,
            "state": task.state,
            "error": _status(task.error),
            "parent_task_id": task.parent_task_id,
            "child_tasks": [{"task_id": c} for c in task.child_task_ids],
            "input_parameters": task.inputs,
            "output_parameters": task.outputs,
            "input_artifacts": task.input_artifacts,
            "output_artifacts": task.output_artifacts,
            "iteration_index": task.iteration_index,
        }
    )


def run_json(row: Any, snap: RunSnapshot) -> dict[str, Any]:
    """A ``v2beta1Run`` from its row (what was asked) and snapshot (what happened)."""
    reference = None
    if row["pipeline_version_id"]:
        reference = {
            "pipeline_id": row["pipeline_id"],
            "pipeline_version_id": row["pipeline_version_id"],
        }
    runtime = json.loads(row["runtime_config"])
    history = [
        _drop_empty(
            {
                "update_time": rfc3339_us(int(entry["time"])),
                "state": entry["state"],
                "error": _status(entry.get("error", "")),
            }
        )
        for entry in snap.state_history
    ]
    tasks = [task_json(row["run_id"], t) for t in sorted(snap.tasks.values(), key=_task_order)]
    return _drop_empty(
        {
            "experiment_id": row["experiment_id"],
            "run_id": row["run_id"],
            "display_name": row["display_name"],
            "storage_state": row["storage_state"],
            "description": row["description"],
            "pipeline_spec": json.loads(row["spec_json"]),
            "pipeline_version_reference": reference,
            "runtime_config": _drop_empty(runtime) if isinstance(runtime, dict) else None,
            "service_account": row["service_account"],
            "created_at": rfc3339_us(row["created_at_us"]),
            "scheduled_at": _time(snap.scheduled_at),
            "finished_at": _time(snap.finished_at),
            "state": snap.state,
            "error": _status(snap.error),
            "run_details": {"task_details": tasks} if tasks else None,
            "state_history": history,
            "recurring_run_id": row["recurring_run_id"] if "recurring_run_id" in row.keys() else "",
        }
    )


def _task_order(task: TaskRecord) -> tuple[int, str]:
    return (task.create_time, task.task_id)
