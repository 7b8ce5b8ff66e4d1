"""Recurring runs as the KFP v2beta1 API serves them, and what fires them.

API (``/apis/v2beta1/recurringruns``; the proxy serves it under ``{base}dsp/api/project/``):

- ``POST recurringruns`` body ``v2beta1RecurringRun``: ``display_name`` (required),
  ``pipeline_version_reference {pipeline_id, pipeline_version_id?}`` (no version: the latest
  version at each firing) or ``pipeline_spec``, ``runtime_config {parameters}``,
  ``trigger {cron_schedule {cron, start_time?, end_time?}}`` (6 fields, seconds first, UTC;
  5 fields are taken as a Unix cron, see recurring_trigger) or
  ``trigger {periodic_schedule {interval_second, start_time?, end_time?}}``,
  ``max_concurrency`` (1-10, default 1), ``no_catchup``, ``mode`` (``ENABLE`` default,
  ``DISABLE``), ``experiment_id`` (default: the namespace's ``Default`` experiment),
  ``namespace`` (default: the stack's default namespace).
- ``GET recurringruns?namespace=&experiment_id=&page_size=&page_token=&sort_by=&filter=``:
  ``{"recurringRuns": [...], "total_size", "next_page_token"}`` (KFP's field name, camelCase).
- ``GET|DELETE recurringruns/{id}``, ``POST recurringruns/{id}:enable|:disable``.

Each recurring run's JSON has KFP's fields plus three extras (generated clients ignore them):
``next_fire_time`` (RFC 3339, absent when disabled or over), ``last_fire_time`` (the trigger time
of the latest run made) and ``fired_count``. The runs it made carry ``recurring_run_id``; list
them with ``GET runs?filter={"predicates":[{"key":"recurring_run_id","operation":"EQUALS",
"string_value":ID}]}``. A firing that could not make its run (pipeline deleted, parameters no
longer valid) is shown in ``error.message`` and the schedule moves on.
"""

from __future__ import annotations

import builtins
import json
import logging
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from jupyter_dsp.stack.auth import Principal
from jupyter_dsp.stack.errors import ApiError, invalid_argument
from jupyter_dsp.stack.listing import ListParams
from jupyter_dsp.stack.naming import scheduled_run_name
from jupyter_dsp.stack.recurring_scheduler import Scheduler
from jupyter_dsp.stack.recurring_store import (
    RECURRING_RUNS,
    AlreadyFired,
    NewRecurringRun,
    RecurringStore,
)
from jupyter_dsp.stack.recurring_trigger import Trigger, TriggerError, normalize_cron
from jupyter_dsp.stack.runner.model import FINAL_STATES
from jupyter_dsp.stack.runner.params import ParameterError, resolve_parameters
from jupyter_dsp.stack.runner.run_source import pipeline_to_run
from jupyter_dsp.stack.serialize import rfc3339

if TYPE_CHECKING:
    from jupyter_dsp.stack.context import StackContext
    from jupyter_dsp.stack.runner.service import RunService

log = logging.getLogger("jupyter_dsp.stack")
MAX_NAME_LENGTH = 128
MAX_CONCURRENCY = 10
BLOCKED_RECHECK = 1  # seconds: a schedule at max_concurrency looks again this often


def _drop_empty(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v not in ("", None, {}, [])}


def _reference(row: Any) -> dict[str, Any]:
    return _drop_empty(
        {"pipeline_id": row["pipeline_id"], "pipeline_version_id": row["pipeline_version_id"]}
    )


def parse_time(value: Any, where: str) -> int:
    """An RFC 3339 timestamp (or ``""``/None) as seconds since the epoch (0 = none)."""
    if value in (None, ""):
        return 0
    if not isinstance(value, str):
        raise invalid_argument(f"{where} must be an RFC 3339 time string")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise invalid_argument(f"{where} is not an RFC 3339 time: {value!r}") from None
    if moment.tzinfo is None:
        raise invalid_argument(f"{where} needs a time zone (e.g. {value}Z)")
    return int(moment.timestamp())


def parse_int(value: Any, where: str, default: int) -> int:
    if value in (None, ""):
        return default
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise invalid_argument(f"{where} must be an integer")
    try:
        return int(value)
    except ValueError:
        raise invalid_argument(f"{where} must be an integer, not {value!r}") from None


def parse_trigger(trigger: Any) -> Trigger:
    if not isinstance(trigger, dict) or not trigger:
        raise invalid_argument(
            "A recurring run needs a trigger: cron_schedule {cron} or"
            " periodic_schedule {interval_second}"
        )
    unknown = set(trigger) - {"cron_schedule", "periodic_schedule"}
    if unknown:
        raise invalid_argument(f"Unknown field {sorted(unknown)[0]!r} in trigger")
    cron, periodic = trigger.get("cron_schedule"), trigger.get("periodic_schedule")
    if cron and periodic:
        raise invalid_argument("A trigger has cron_schedule or periodic_schedule, not both")
    schedule = cron or periodic
    if not isinstance(schedule, dict):
        raise invalid_argument("trigger.cron_schedule or trigger.periodic_schedule is required")
    kind = "cron_schedule" if cron else "periodic_schedule"
    allowed = {"start_time", "end_time", "cron" if cron else "interval_second"}
    unknown = set(schedule) - allowed
    if unknown:
        raise invalid_argument(f"Unknown field {sorted(unknown)[0]!r} in trigger.{kind}")
    start = parse_time(schedule.get("start_time"), f"trigger.{kind}.start_time")
    end = parse_time(schedule.get("end_time"), f"trigger.{kind}.end_time")
    if start and end and end < start:
        raise invalid_argument(f"trigger.{kind}.end_time is before its start_time")
    if cron:
        expr = schedule.get("cron")
        if not isinstance(expr, str):
            raise invalid_argument("trigger.cron_schedule.cron is required")
        try:
            return Trigger(cron=normalize_cron(expr), start_time=start, end_time=end)
        except TriggerError as exc:
            raise invalid_argument(str(exc)) from None
    interval = parse_int(schedule.get("interval_second"), "interval_second", 0)
    if interval <= 0:
        raise invalid_argument("trigger.periodic_schedule.interval_second must be 1 or more")
    return Trigger(interval_second=interval, start_time=start, end_time=end)


def trigger_of(row: Any) -> Trigger:
    return Trigger(row["cron"], row["interval_second"], row["start_time"], row["end_time"])


class RecurringRunService:
    def __init__(self, ctx: StackContext, runs: RunService) -> None:
        self.ctx = ctx
        self.access = ctx.access
        self.runs = runs
        self.store = RecurringStore(ctx.db.conn)
        self.scheduler = Scheduler(self.fire, self._load)

    # ----- helpers -----------------------------------------------------------------------

    def _row(self, who: Principal, recurring_run_id: str, write: bool = False) -> Any:
        return self.access.check_row(who, self.store.get(recurring_run_id), write)

    def next_due(self, row: Any, now: float | None = None) -> int | None:
        if row["status"] != "ENABLED":
            return None
        now_s = int(now if now is not None else time.time())
        return trigger_of(row).next_due(
            row["last_fired"], row["base_time"], now_s, catchup=not row["no_catchup"]
        )

    def _json(self, row: Any) -> dict[str, Any]:
        kind = "cron_schedule" if row["cron"] else "periodic_schedule"
        schedule = _drop_empty(
            {
                "cron": row["cron"],
                "interval_second": str(row["interval_second"]) if row["interval_second"] else "",
                "start_time": rfc3339(row["start_time"]) if row["start_time"] else "",
                "end_time": rfc3339(row["end_time"]) if row["end_time"] else "",
            }
        )
        reference = None
        if row["pipeline_id"] or row["pipeline_version_id"]:
            reference = _reference(row)
        due = None
        if row["status"] == "ENABLED":  # the scheduler knows it; else compute (cron math)
            due = self.scheduler.due_of(row["recurring_run_id"]) or self.next_due(row)
        return _drop_empty(
            {
                "recurring_run_id": row["recurring_run_id"],
                "display_name": row["display_name"],
                "description": row["description"],
                "pipeline_version_reference": reference,
                "pipeline_spec": json.loads(row["pipeline_spec"]) if row["pipeline_spec"] else None,
                "runtime_config": _drop_empty(json.loads(row["runtime_config"])),
                "service_account": row["service_account"],
                "max_concurrency": str(row["max_concurrency"]),
                "trigger": {kind: schedule},
                "mode": "ENABLE" if row["status"] == "ENABLED" else "DISABLE",
                "created_at": rfc3339(row["created_at"]),
                "updated_at": rfc3339(row["updated_at"]),
                "status": row["status"],
                "error": {"code": 9, "message": row["last_error"]} if row["last_error"] else None,
                "no_catchup": bool(row["no_catchup"]),
                "namespace": row["namespace"],
                "experiment_id": row["experiment_id"],
                "next_fire_time": rfc3339(due) if due is not None else None,
                "last_fire_time": rfc3339(row["last_fired"]) if row["last_fired"] else None,
                "fired_count": row["fired_count"],
            }
        )

    def _run_body(self, row: Any, trigger: int) -> dict[str, Any]:
        body: dict[str, Any] = {
            "display_name": scheduled_run_name(row["display_name"], trigger, MAX_NAME_LENGTH),
            "description": row["description"],
            "runtime_config": json.loads(row["runtime_config"]),
            "service_account": row["service_account"],
            "experiment_id": row["experiment_id"],
        }
        if row["pipeline_spec"]:
            body["pipeline_spec"] = json.loads(row["pipeline_spec"])
        else:
            body["pipeline_version_reference"] = _reference(row)
        return body

    def _acting_for(self, namespace: str) -> Principal:
        """Who the scheduler acts as: edit on the recurring run's namespace only."""
        spaces = {namespace: "edit"} if namespace else {}
        if not self.access.multi_user:
            spaces[self.access.default_namespace] = "edit"
        return Principal("system:recurring-runs", spaces, shared="view")

    # ----- endpoints ---------------------------------------------------------------------

    def create(
        self, who: Principal, body: dict[str, Any], namespace_query: str | None = None
    ) -> dict[str, Any]:
        name = (body.get("display_name") or "").strip()
        if not name:
            raise invalid_argument("RecurringRun display_name is required")
        if len(name) > MAX_NAME_LENGTH:
            raise invalid_argument(f"RecurringRun display_name is longer than {MAX_NAME_LENGTH}")
        trigger = parse_trigger(body.get("trigger"))
        concurrency = parse_int(body.get("max_concurrency"), "max_concurrency", 0) or 1
        if not 1 <= concurrency <= MAX_CONCURRENCY:
            raise invalid_argument(
                f"max_concurrency must be between 1 and {MAX_CONCURRENCY}, not {concurrency}"
            )
        mode = body.get("mode") or "ENABLE"
        if mode not in ("ENABLE", "DISABLE", "MODE_UNSPECIFIED"):
            raise invalid_argument(f"mode must be ENABLE or DISABLE, not {mode!r}")
        no_catchup = body.get("no_catchup") or False
        if not isinstance(no_catchup, bool):
            raise invalid_argument("no_catchup must be true or false")
        namespace = body.get("namespace") or namespace_query
        experiment = self.ctx.experiments.for_new_run(
            who, body.get("experiment_id") or "", namespace, "recurring runs"
        )
        ns = experiment["namespace"]
        # the pipeline and parameters are checked now, as a run would check them
        document, pipeline_id, version_id = pipeline_to_run(
            self.access, self.ctx.pipeline_store, who, body, ns
        )
        runtime = body.get("runtime_config") or {}
        if not isinstance(runtime, dict) or set(runtime) - {"parameters", "pipeline_root"}:
            raise invalid_argument("runtime_config takes parameters and pipeline_root only")
        if not isinstance(runtime.get("parameters") or {}, dict):
            raise invalid_argument("runtime_config.parameters must be an object")
        try:
            resolve_parameters(document.root_parameters(), runtime.get("parameters") or {})
        except ParameterError as exc:
            raise invalid_argument(f"Invalid run parameters: {exc}") from None
        reference = body.get("pipeline_version_reference") or {}
        pinned_version = reference.get("pipeline_version_id") or body.get("pipeline_version_id")
        inline = body.get("pipeline_spec") if not pipeline_id else None
        row = self.store.create(
            NewRecurringRun(
                namespace=ns,
                experiment_id=experiment["experiment_id"],
                display_name=name,
                description=body.get("description") or "",
                pipeline_id=pipeline_id,
                pipeline_version_id=version_id if pinned_version else "",
                pipeline_spec=inline,
                runtime_config=runtime,
                service_account=body.get("service_account") or "",
                max_concurrency=concurrency,
                no_catchup=no_catchup,
                cron=trigger.cron,
                interval_second=trigger.interval_second,
                start_time=trigger.start_time,
                end_time=trigger.end_time,
                enabled=mode != "DISABLE",
            )
        )
        self.scheduler.schedule(row["recurring_run_id"], self.next_due(row))
        return self._json(row)

    def get(self, who: Principal, recurring_run_id: str) -> dict[str, Any]:
        return self._json(self._row(who, recurring_run_id))

    def list(
        self, who: Principal, namespace: str | None, experiment_id: str | None, params: ListParams
    ) -> dict[str, Any]:
        query = params.query(RECURRING_RUNS)
        scope = self.ctx.experiments.list_scope(who, namespace, experiment_id)
        return self.store.list(scope, query).to_json("recurringRuns", self._json)

    def delete(self, who: Principal, recurring_run_id: str) -> None:
        self._row(who, recurring_run_id, write=True)
        self.store.delete(recurring_run_id)  # the runs it made stay
        self.scheduler.schedule(recurring_run_id, None)

    def set_enabled(self, who: Principal, recurring_run_id: str, enabled: bool) -> None:
        self._row(who, recurring_run_id, write=True)
        self.store.set_status(recurring_run_id, enabled)
        self.scheduler.schedule(recurring_run_id, self.next_due(self.store.get(recurring_run_id)))

    def enable(self, who: Principal, recurring_run_id: str) -> None:
        self.set_enabled(who, recurring_run_id, True)

    def disable(self, who: Principal, recurring_run_id: str) -> None:
        self.set_enabled(who, recurring_run_id, False)

    def close(self) -> None:
        self.scheduler.stop()

    # ----- firing (the scheduler's thread) -------------------------------------------------

    def _load(self) -> builtins.list[tuple[str, int | None]]:
        return [(row["recurring_run_id"], self.next_due(row)) for row in self.store.enabled()]

    def _active_runs(self, recurring_run_id: str) -> int:
        count = 0
        for run_id in self.store.active_run_ids(recurring_run_id, FINAL_STATES):
            snap = self.runs.engine.snapshot(run_id)
            if snap is None or snap.state not in FINAL_STATES:
                count += 1
        return count

    def fire(self, recurring_run_id: str) -> int | None:
        """Make the run of a due trigger, if any; returns when to look at it next."""
        row = self.store.find(recurring_run_id)
        if row is None:
            return None
        now = time.time()
        due = self.next_due(row, now)
        if due is None or due > now:
            return due
        if self._active_runs(recurring_run_id) >= row["max_concurrency"]:
            return int(now) + BLOCKED_RECHECK
        previous = row["last_fired"]
        try:
            self.runs.create(
                self._acting_for(row["namespace"]),
                self._run_body(row, due),
                row["experiment_id"],
                None,
                recurring_run_id=recurring_run_id,
                also=self.store.firing_recorder(recurring_run_id, due, previous),
            )
        except AlreadyFired:
            pass
        except ApiError as exc:
            log.warning("recurring run %s could not fire: %s", recurring_run_id, exc.message)
            self.store.skip(recurring_run_id, due, previous, exc.message)
        except Exception as exc:  # logged, recorded, and the schedule goes on
            log.exception("recurring run %s failed to fire", recurring_run_id)
            self.store.skip(recurring_run_id, due, previous, f"internal error: {exc}")
        row = self.store.find(recurring_run_id)
        return None if row is None else self.next_due(row)
