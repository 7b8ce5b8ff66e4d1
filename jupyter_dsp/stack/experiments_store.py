"""Experiments in SQLite (no authorization here: see experiment_service)."""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Callable

from jupyter_dsp.stack.db import write_transaction
from jupyter_dsp.stack.errors import already_exists, not_found
from jupyter_dsp.stack.filtering import Column
from jupyter_dsp.stack.listing import Listable, ListQuery, Page, run_list

EXPERIMENTS = Listable(
    "experiments",
    {
        "experiment_id": Column("experiment_id"),
        "display_name": Column("display_name"),
        "name": Column("display_name"),  # KFP maps both to the experiment's name
        "created_at": Column("created_at", "int"),
        "last_run_created_at": Column("last_run_created_at", "int"),
        "description": Column("description"),
        "namespace": Column("namespace"),
        "storage_state": Column("storage_state"),
    },
)


class ExperimentStore:
    def __init__(self, conn: Callable[[], sqlite3.Connection]) -> None:
        self._conn = conn

    def create(self, namespace: str, display_name: str, description: str = "") -> sqlite3.Row:
        experiment_id = str(uuid.uuid4())
        conn = self._conn()
        try:
            with write_transaction(conn):
                conn.execute(
                    "INSERT INTO experiments (experiment_id, namespace, display_name, description,"
                    " created_at) VALUES (?, ?, ?, ?, ?)",
                    (experiment_id, namespace, display_name, description, int(time.time())),
                )
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" in str(exc):
                raise already_exists(
                    f"Failed to create a new experiment. The name {display_name} already exists."
                    " Please specify a new name"
                ) from None
            raise
        return self.get(experiment_id)

    def get(self, experiment_id: str) -> sqlite3.Row:
        row = (
            self._conn()
            .execute("SELECT * FROM experiments WHERE experiment_id = ?", (experiment_id,))
            .fetchone()
        )
        if row is None:
            raise not_found(f"Experiment {experiment_id} not found")
        return row

    def list(self, namespace: str, query: ListQuery) -> Page:
        return run_list(self._conn(), "experiments", [("namespace", namespace)], query)

    def set_storage_state(self, experiment_id: str, state: str) -> None:
        conn = self._conn()
        with write_transaction(conn):
            cur = conn.execute(
                "UPDATE experiments SET storage_state = ? WHERE experiment_id = ?",
                (state, experiment_id),
            )
            if cur.rowcount == 0:
                raise not_found(f"Experiment {experiment_id} not found")

    def delete(self, experiment_id: str) -> None:
        conn = self._conn()
        with write_transaction(conn):
            cur = conn.execute("DELETE FROM experiments WHERE experiment_id = ?", (experiment_id,))
            if cur.rowcount == 0:
                raise not_found(f"Experiment {experiment_id} not found")
