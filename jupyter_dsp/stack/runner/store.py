"""Runs in SQLite: the ``runs`` table (migration 2) and its queries (no authorization here).

A run row keeps what was asked (spec, parameters, experiment, names) and the engine's latest
snapshot (state, history, tasks, outputs). Times: ``created_at`` in seconds like the other
tables (filters and sorting), the engine's times in microseconds.
"""

from __future__ import annotations

import builtins
import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jupyter_dsp.stack.db import Migration, register_migration, sql_script, write_transaction
from jupyter_dsp.stack.filtering import Column
from jupyter_dsp.stack.listing import Listable
from jupyter_dsp.stack.runner.model import RunSnapshot
from jupyter_dsp.stack.store_base import TableStore

_V2_RUNS = """
CREATE TABLE runs (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id              TEXT NOT NULL UNIQUE,
    namespace           TEXT NOT NULL,
    experiment_id       TEXT NOT NULL DEFAULT '',
    display_name        TEXT NOT NULL,
    description         TEXT NOT NULL DEFAULT '',
    pipeline_id         TEXT NOT NULL DEFAULT '',
    pipeline_version_id TEXT NOT NULL DEFAULT '',
    spec_json           TEXT NOT NULL,          -- the pipeline_spec field, as the API shows it
    runtime_config      TEXT NOT NULL DEFAULT '{}',  -- as the request gave it
    parameters          TEXT NOT NULL DEFAULT '{}',  -- resolved (defaults applied)
    service_account     TEXT NOT NULL DEFAULT '',
    storage_state       TEXT NOT NULL DEFAULT 'AVAILABLE',
    state               TEXT NOT NULL,
    error               TEXT NOT NULL DEFAULT '',
    created_at          INTEGER NOT NULL,       -- seconds since the epoch
    created_at_us       INTEGER NOT NULL,
    scheduled_at        INTEGER NOT NULL DEFAULT 0,  -- microseconds
    finished_at         INTEGER NOT NULL DEFAULT 0,  -- microseconds
    finished_at_s       INTEGER NOT NULL DEFAULT 0,  -- seconds (filters)
    state_history       TEXT NOT NULL DEFAULT '[]',
    tasks               TEXT NOT NULL DEFAULT '{}',
    outputs             TEXT NOT NULL DEFAULT '{}',
    attempt             INTEGER NOT NULL DEFAULT 1,
    worker_pid          INTEGER
);
CREATE INDEX runs_ns_created ON runs (namespace, created_at, seq);
CREATE INDEX runs_experiment_created ON runs (experiment_id, created_at, seq);
CREATE INDEX runs_state ON runs (state)
"""


MIGRATION = Migration(2, "runs", sql_script(_V2_RUNS))
register_migration(MIGRATION)

RUNS = Listable(
    "runs",
    {
        "run_id": Column("run_id"),
        "display_name": Column("display_name"),
        "name": Column("display_name"),
        "description": Column("description"),
        "created_at": Column("created_at", "int"),
        "finished_at": Column("finished_at_s", "int"),
        "state": Column("state"),
        "storage_state": Column("storage_state"),
        "experiment_id": Column("experiment_id"),
        "namespace": Column("namespace"),
        "pipeline_version_id": Column("pipeline_version_id"),
        "recurring_run_id": Column("recurring_run_id"),  # migration 3 (stack/recurring_store)
    },
)


@dataclass
class NewRun:
    run_id: str
    namespace: str
    experiment_id: str
    display_name: str
    description: str
    pipeline_id: str
    pipeline_version_id: str
    spec: dict[str, Any]
    runtime_config: dict[str, Any]
    parameters: dict[str, Any]
    service_account: str
    state: str
    recurring_run_id: str = ""  # set by the recurring-run scheduler (column of migration 3)


class RunStore(TableStore):
    table, key, kind = "runs", "run_id", "Run"

    def create(self, new: NewRun, also: Callable[[sqlite3.Connection], None] | None = None) -> None:
        """Insert the run; ``also(conn)`` runs in the same transaction (its error rolls back)."""
        now_us = time.time_ns() // 1000
        conn = self._conn()
        with write_transaction(conn):
            conn.execute(
                "INSERT INTO runs (run_id, namespace, experiment_id, display_name, description,"
                " pipeline_id, pipeline_version_id, spec_json, runtime_config, parameters,"
                " service_account, state, created_at, created_at_us, state_history)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    new.run_id,
                    new.namespace,
                    new.experiment_id,
                    new.display_name,
                    new.description,
                    new.pipeline_id,
                    new.pipeline_version_id,
                    json.dumps(new.spec),
                    json.dumps(new.runtime_config),
                    json.dumps(new.parameters),
                    new.service_account,
                    new.state,
                    now_us // 1_000_000,
                    now_us,
                    json.dumps([{"state": new.state, "time": now_us}]),
                ),
            )
            if new.experiment_id:
                conn.execute(
                    "UPDATE experiments SET last_run_created_at = ? WHERE experiment_id = ?",
                    (now_us // 1_000_000, new.experiment_id),
                )
            if new.recurring_run_id:
                conn.execute(
                    "UPDATE runs SET recurring_run_id = ? WHERE run_id = ?",
                    (new.recurring_run_id, new.run_id),
                )
            if also is not None:
                also(conn)

    def in_states(self, states: tuple[str, ...]) -> builtins.list[sqlite3.Row]:
        marks = ", ".join("?" for _ in states)
        return (
            self._conn()
            .execute(f"SELECT * FROM runs WHERE state IN ({marks}) ORDER BY seq", states)
            .fetchall()
        )

    def save_snapshots(self, snapshots: builtins.list[RunSnapshot]) -> None:
        """Write the engine's latest view of some runs (one transaction)."""
        conn = self._conn()
        with write_transaction(conn):
            for snap in snapshots:
                conn.execute(
                    "UPDATE runs SET state = ?, error = ?, scheduled_at = ?, finished_at = ?,"
                    " finished_at_s = ?, state_history = ?, tasks = ?, outputs = ?, attempt = ?,"
                    " worker_pid = ? WHERE run_id = ?",
                    (
                        snap.state,
                        snap.error,
                        snap.scheduled_at,
                        snap.finished_at,
                        snap.finished_at // 1_000_000,
                        json.dumps(snap.state_history),
                        json.dumps({k: v.to_dict() for k, v in snap.tasks.items()}),
                        json.dumps(snap.outputs, default=repr),
                        snap.attempt,
                        snap.pid,
                        snap.run_id,
                    ),
                )

    def set_storage_state(self, run_id: str, state: str) -> None:
        self.set_column(run_id, "storage_state", state)


def snapshot_of(row: Any) -> RunSnapshot:
    """The engine snapshot stored in a row."""
    return RunSnapshot.from_dict(
        {
            "run_id": row["run_id"],
            "state": row["state"],
            "state_history": json.loads(row["state_history"]),
            "scheduled_at": row["scheduled_at"],
            "finished_at": row["finished_at"],
            "error": row["error"],
            "outputs": json.loads(row["outputs"]),
            "tasks": json.loads(row["tasks"]),
            "attempt": row["attempt"],
            "pid": row["worker_pid"],
        }
    )
