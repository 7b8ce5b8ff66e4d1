"""Recurring runs in SQLite: the ``recurring_runs`` table (migration 3) and its queries.

Migration 3 also gives ``runs`` a ``recurring_run_id`` column: the runs a recurring run made
carry its id (``""`` for the others). Times are seconds since the epoch. ``last_fired`` is the
trigger time of the last run made (NULL before the first); it is written in the same
transaction as that run (:meth:`RecurringStore.firing_recorder`), so a stack that stops at any
point neither fires a trigger twice nor loses one. ``base_time`` is where triggers are counted
from when nothing fired yet: the creation time, or the time of the last ``:enable``.
No authorization here: see recurring_service.
"""

from __future__ import annotations

import builtins
import json
import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jupyter_dsp.stack.db import Migration, register_migration, sql_script, write_transaction
from jupyter_dsp.stack.filtering import Column
from jupyter_dsp.stack.listing import Listable
from jupyter_dsp.stack.runner import store as _runs_store  # noqa: F401  (migration 2 first)
from jupyter_dsp.stack.store_base import TableStore

_V3_RECURRING = """
CREATE TABLE recurring_runs (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    recurring_run_id    TEXT NOT NULL UNIQUE,
    namespace           TEXT NOT NULL,
    experiment_id       TEXT NOT NULL DEFAULT '',
    display_name        TEXT NOT NULL,
    description         TEXT NOT NULL DEFAULT '',
    pipeline_id         TEXT NOT NULL DEFAULT '',
    pipeline_version_id TEXT NOT NULL DEFAULT '',   -- '' = the latest version at each firing
    pipeline_spec       TEXT NOT NULL DEFAULT '',   -- inline spec (JSON) when given instead
    runtime_config      TEXT NOT NULL DEFAULT '{}',
    service_account     TEXT NOT NULL DEFAULT '',
    max_concurrency     INTEGER NOT NULL DEFAULT 1,
    no_catchup          INTEGER NOT NULL DEFAULT 0,
    cron                TEXT NOT NULL DEFAULT '',   -- cron trigger (6 fields, KFP's form)
    interval_second     INTEGER NOT NULL DEFAULT 0, -- periodic trigger
    start_time          INTEGER NOT NULL DEFAULT 0, -- 0 = none
    end_time            INTEGER NOT NULL DEFAULT 0, -- 0 = none
    status              TEXT NOT NULL,              -- ENABLED | DISABLED
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    base_time           INTEGER NOT NULL,
    last_fired          INTEGER,
    fired_count         INTEGER NOT NULL DEFAULT 0,
    last_error          TEXT NOT NULL DEFAULT ''
);
CREATE INDEX recurring_ns_created ON recurring_runs (namespace, created_at, seq);
CREATE INDEX recurring_experiment_created ON recurring_runs (experiment_id, created_at, seq);
ALTER TABLE runs ADD COLUMN recurring_run_id TEXT NOT NULL DEFAULT '';
CREATE INDEX runs_recurring_state ON runs (recurring_run_id, state)
"""


MIGRATION = Migration(3, "recurring runs", sql_script(_V3_RECURRING))
register_migration(MIGRATION)

RECURRING_RUNS = Listable(
    "recurring_runs",
    {
        "recurring_run_id": Column("recurring_run_id"),
        "display_name": Column("display_name"),
        "name": Column("display_name"),
        "description": Column("description"),
        "created_at": Column("created_at", "int"),
        "updated_at": Column("updated_at", "int"),
        "status": Column("status"),
        "namespace": Column("namespace"),
        "experiment_id": Column("experiment_id"),
        "pipeline_id": Column("pipeline_id"),
        "pipeline_version_id": Column("pipeline_version_id"),
    },
)


@dataclass
class NewRecurringRun:
    namespace: str
    experiment_id: str
    display_name: str
    description: str
    pipeline_id: str
    pipeline_version_id: str
    pipeline_spec: dict[str, Any] | None
    runtime_config: dict[str, Any]
    service_account: str
    max_concurrency: int
    no_catchup: bool
    cron: str
    interval_second: int
    start_time: int
    end_time: int
    enabled: bool


class AlreadyFired(Exception):
    """The trigger was recorded meanwhile (another firing won): the run is rolled back."""


class RecurringStore(TableStore):
    table, key, kind = "recurring_runs", "recurring_run_id", "RecurringRun"

    def create(self, new: NewRecurringRun) -> sqlite3.Row:
        rid = str(uuid.uuid4())
        now = int(time.time())
        conn = self._conn()
        with write_transaction(conn):
            conn.execute(
                "INSERT INTO recurring_runs (recurring_run_id, namespace, experiment_id,"
                " display_name, description, pipeline_id, pipeline_version_id, pipeline_spec,"
                " runtime_config, service_account, max_concurrency, no_catchup, cron,"
                " interval_second, start_time, end_time, status, created_at, updated_at,"
                " base_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    rid,
                    new.namespace,
                    new.experiment_id,
                    new.display_name,
                    new.description,
                    new.pipeline_id,
                    new.pipeline_version_id,
                    json.dumps(new.pipeline_spec) if new.pipeline_spec else "",
                    json.dumps(new.runtime_config),
                    new.service_account,
                    new.max_concurrency,
                    int(new.no_catchup),
                    new.cron,
                    new.interval_second,
                    new.start_time,
                    new.end_time,
                    "ENABLED" if new.enabled else "DISABLED",
                    now,
                    now,
                    now,
                ),
            )
        return self.get(rid)

    def find(self, recurring_run_id: str) -> sqlite3.Row | None:
        try:
            return self.get(recurring_run_id)
        except Exception:
            return None

    def enabled(self) -> builtins.list[sqlite3.Row]:
        return (
            self._conn()
            .execute("SELECT * FROM recurring_runs WHERE status = 'ENABLED' ORDER BY seq")
            .fetchall()
        )

    def set_status(self, recurring_run_id: str, enabled: bool) -> None:
        """Enable (triggers count from now: the time it was disabled is not caught up) or
        disable."""
        now = int(time.time())
        conn = self._conn()
        with write_transaction(conn):
            row = conn.execute(
                "SELECT status FROM recurring_runs WHERE recurring_run_id = ?",
                (recurring_run_id,),
            ).fetchone()
            if row is None:
                raise self.missing(recurring_run_id)
            status = "ENABLED" if enabled else "DISABLED"
            if row["status"] == status:
                return
            if enabled:
                conn.execute(
                    "UPDATE recurring_runs SET status = ?, updated_at = ?, base_time = ?,"
                    " last_fired = NULL WHERE recurring_run_id = ?",
                    (status, now, now, recurring_run_id),
                )
            else:
                conn.execute(
                    "UPDATE recurring_runs SET status = ?, updated_at = ?"
                    " WHERE recurring_run_id = ?",
                    (status, now, recurring_run_id),
                )

    @staticmethod
    def firing_recorder(
        recurring_run_id: str, trigger: int, previous: int | None
    ) -> Callable[[sqlite3.Connection], None]:
        """What the run's transaction also does: move ``last_fired`` from ``previous`` to
        ``trigger``, or roll the run back (:class:`AlreadyFired`) if it is no longer
        ``previous`` or the recurring run is gone or disabled."""

        def record(conn: sqlite3.Connection) -> None:
            cur = conn.execute(
                "UPDATE recurring_runs SET last_fired = ?, fired_count = fired_count + 1,"
                " last_error = '' WHERE recurring_run_id = ? AND status = 'ENABLED'"
                " AND last_fired IS ?",
                (trigger, recurring_run_id, previous),
            )
            if cur.rowcount != 1:
                raise AlreadyFired(recurring_run_id)

        return record

    def skip(self, recurring_run_id: str, trigger: int, previous: int | None, error: str) -> None:
        """A trigger whose run could not be made (pipeline gone, bad parameters): recorded
        as fired, with the reason, so that the schedule moves on."""
        conn = self._conn()
        with write_transaction(conn):
            conn.execute(
                "UPDATE recurring_runs SET last_fired = ?, last_error = ?"
                " WHERE recurring_run_id = ? AND last_fired IS ?",
                (trigger, error[:2000], recurring_run_id, previous),
            )

    def active_run_ids(
        self, recurring_run_id: str, final_states: frozenset[str]
    ) -> builtins.list[str]:
        marks = ", ".join("?" for _ in final_states)
        rows = (
            self._conn()
            .execute(
                f"SELECT run_id FROM runs WHERE recurring_run_id = ? AND state NOT IN ({marks})",
                (recurring_run_id, *sorted(final_states)),
            )
            .fetchall()
        )
        return [row["run_id"] for row in rows]
