"""Experiments in SQLite (no authorization here: see experiment_service)."""

from __future__ import annotations

import sqlite3
import time
import uuid

from jupyter_dsp.stack.db import write_transaction
from jupyter_dsp.stack.errors import already_exists
from jupyter_dsp.stack.filtering import Column
from jupyter_dsp.stack.listing import Listable
from jupyter_dsp.stack.store_base import TableStore

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


class ExperimentStore(TableStore):
    table, key, kind = "experiments", "experiment_id", "Experiment"

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

    def find_by_name(self, namespace: str, display_name: str) -> sqlite3.Row | None:
        return (
            self._conn()
            .execute(
                "SELECT * FROM experiments WHERE namespace = ? AND display_name = ?",
                (namespace, display_name),
            )
            .fetchone()
        )

    def set_storage_state(self, experiment_id: str, state: str) -> None:
        self.set_column(experiment_id, "storage_state", state)
