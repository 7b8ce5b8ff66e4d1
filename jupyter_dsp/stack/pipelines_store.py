"""Pipelines and pipeline versions in SQLite (no authorization here: see pipeline_service)."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from jupyter_dsp.stack.db import write_transaction
from jupyter_dsp.stack.errors import already_exists, invalid_argument, not_found
from jupyter_dsp.stack.filtering import Column
from jupyter_dsp.stack.listing import Listable, ListQuery, Page
from jupyter_dsp.stack.pipelinespec import ParsedSpec
from jupyter_dsp.stack.store_base import Connect, TableStore

PIPELINES = Listable(
    "pipelines",
    {
        "pipeline_id": Column("pipeline_id"),
        "name": Column("name"),
        "display_name": Column("display_name"),
        "created_at": Column("created_at", "int"),
        "description": Column("description"),
        "namespace": Column("namespace"),
        "tags": Column("tags"),  # and tags.<key> (KFP #12999)
    },
)
VERSIONS = Listable(
    "pipeline_versions",
    {
        "pipeline_version_id": Column("pipeline_version_id"),
        "name": Column("name"),
        "display_name": Column("display_name"),
        "created_at": Column("created_at", "int"),
        "description": Column("description"),
        "tags": Column("tags"),  # and tags.<key> (KFP #12999)
    },
)
_VERSION_LIST_COLUMNS = (
    "seq, pipeline_version_id, pipeline_id, name, display_name, description, tags,"
    " created_at, package_url, code_source_url, spec_json"
)


@dataclass
class NewPipeline:
    namespace: str
    name: str
    display_name: str = ""
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class NewVersion:
    name: str
    spec: ParsedSpec
    display_name: str = ""
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    package_url: str = ""
    code_source_url: str = ""


def _is_unique_violation(exc: sqlite3.IntegrityError) -> bool:
    return "UNIQUE" in str(exc)


class PipelineStore:
    def __init__(self, conn: Connect) -> None:
        self._conn = conn
        self._pipelines = TableStore.of(conn, "pipelines", "pipeline_id", "Pipeline")
        self._versions = TableStore.of(
            conn, "pipeline_versions", "pipeline_version_id", "PipelineVersion"
        )

    # -- pipelines -------------------------------------------------------------------------

    def _insert_pipeline(self, conn: sqlite3.Connection, new: NewPipeline) -> str:
        pipeline_id = str(uuid.uuid4())
        try:
            conn.execute(
                "INSERT INTO pipelines (pipeline_id, namespace, name, display_name, description,"
                " tags, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    pipeline_id,
                    new.namespace,
                    new.name,
                    new.display_name or new.name,
                    new.description,
                    json.dumps(new.tags, sort_keys=True),
                    int(time.time()),
                ),
            )
        except sqlite3.IntegrityError as exc:
            if _is_unique_violation(exc):
                where = f"namespace {new.namespace!r}" if new.namespace else "the shared space"
                raise already_exists(
                    f"Failed to create a new pipeline. The name {new.name} already exists"
                    f" in {where}. Please specify a new name"
                ) from None
            raise
        return pipeline_id

    def _insert_version(self, conn: sqlite3.Connection, pipeline_id: str, new: NewVersion) -> str:
        version_id = str(uuid.uuid4())
        try:
            conn.execute(
                "INSERT INTO pipeline_versions (pipeline_version_id, pipeline_id, name,"
                " display_name, description, tags, created_at, package_url, code_source_url,"
                " spec_yaml, spec_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    version_id,
                    pipeline_id,
                    new.name,
                    new.display_name or new.name,
                    new.description,
                    json.dumps(new.tags, sort_keys=True),
                    int(time.time()),
                    new.package_url,
                    new.code_source_url,
                    new.spec.text,
                    new.spec.api_spec_json,
                ),
            )
        except sqlite3.IntegrityError as exc:
            if _is_unique_violation(exc):
                raise already_exists(
                    f"Failed to create a new pipeline version. The name {new.name} already"
                    " exist. Specify a new name"
                ) from None
            raise
        return version_id

    def create_pipeline(self, new: NewPipeline) -> sqlite3.Row:
        conn = self._conn()
        with write_transaction(conn):
            pipeline_id = self._insert_pipeline(conn, new)
        return self.get_pipeline(pipeline_id)

    def create_pipeline_and_version(
        self, pipeline: NewPipeline, version: NewVersion
    ) -> tuple[sqlite3.Row, sqlite3.Row]:
        conn = self._conn()
        with write_transaction(conn):
            pipeline_id = self._insert_pipeline(conn, pipeline)
            version_id = self._insert_version(conn, pipeline_id, version)
        return self.get_pipeline(pipeline_id), self.get_version(version_id)

    def get_pipeline(self, pipeline_id: str) -> sqlite3.Row:
        return self._pipelines.get(pipeline_id)

    def get_pipeline_by_name(self, namespace: str, name: str) -> sqlite3.Row:
        row = (
            self._conn()
            .execute("SELECT * FROM pipelines WHERE namespace = ? AND name = ?", (namespace, name))
            .fetchone()
        )
        if row is None:
            raise not_found(f"Namespace/Pipeline {namespace or '-'}/{name} not found")
        return row

    def list_pipelines(self, namespace: str, query: ListQuery) -> Page:
        return self._pipelines.list([("namespace", namespace)], query)

    @staticmethod
    def _update(
        conn: sqlite3.Connection,
        table: str,
        key: str,
        value: str,
        display_name: str | None,
        tags: dict[str, str] | None,
    ) -> None:
        sets: list[str] = []
        params: list[Any] = []
        if display_name:
            sets.append("display_name = ?")
            params.append(display_name)
        if tags is not None:
            sets.append("tags = ?")
            params.append(json.dumps(tags, sort_keys=True))
        if sets:
            conn.execute(f"UPDATE {table} SET {', '.join(sets)} WHERE {key} = ?", [*params, value])

    def update_pipeline(
        self, pipeline_id: str, display_name: str | None, tags: dict[str, str] | None
    ) -> sqlite3.Row:
        """KFP's mutable fields: a non-empty display_name, and tags when given."""
        conn = self._conn()
        with write_transaction(conn):
            self.get_pipeline(pipeline_id)
            self._update(conn, "pipelines", "pipeline_id", pipeline_id, display_name, tags)
        return self.get_pipeline(pipeline_id)

    def update_version(
        self,
        pipeline_id: str,
        version_id: str,
        display_name: str | None,
        tags: dict[str, str] | None,
    ) -> sqlite3.Row:
        conn = self._conn()
        with write_transaction(conn):
            self.get_version(version_id, pipeline_id)
            self._update(
                conn, "pipeline_versions", "pipeline_version_id", version_id, display_name, tags
            )
        return self.get_version(version_id)

    def delete_pipeline(self, pipeline_id: str, cascade: bool) -> None:
        conn = self._conn()
        with write_transaction(conn):
            self.get_pipeline(pipeline_id)
            latest = self.latest_version(pipeline_id)
            if latest is not None and not cascade:
                raise invalid_argument(
                    f"Failed to delete pipeline with id {pipeline_id} as it has existing pipeline"
                    f" versions (e.g. {latest['pipeline_version_id']})."
                    " Set cascade=true to delete all versions"
                )
            conn.execute("DELETE FROM pipeline_versions WHERE pipeline_id = ?", (pipeline_id,))
            conn.execute("DELETE FROM pipelines WHERE pipeline_id = ?", (pipeline_id,))

    # -- versions --------------------------------------------------------------------------

    def create_version(self, pipeline_id: str, new: NewVersion) -> sqlite3.Row:
        conn = self._conn()
        with write_transaction(conn):
            self.get_pipeline(pipeline_id)
            version_id = self._insert_version(conn, pipeline_id, new)
        return self.get_version(version_id)

    def get_version(self, version_id: str, pipeline_id: str | None = None) -> sqlite3.Row:
        row = self._versions.get(version_id)
        if pipeline_id is not None and row["pipeline_id"] != pipeline_id:
            raise self._versions.missing(version_id)
        return row

    def latest_version(self, pipeline_id: str) -> sqlite3.Row | None:
        return (
            self._conn()
            .execute(
                "SELECT * FROM pipeline_versions WHERE pipeline_id = ?"
                " ORDER BY created_at DESC, seq DESC LIMIT 1",
                (pipeline_id,),
            )
            .fetchone()
        )

    def list_versions(self, pipeline_id: str, query: ListQuery) -> Page:
        return self._versions.list([("pipeline_id", pipeline_id)], query, _VERSION_LIST_COLUMNS)

    def delete_version(self, pipeline_id: str, version_id: str) -> None:
        conn = self._conn()
        with write_transaction(conn):
            self.get_version(version_id, pipeline_id)
            conn.execute(
                "DELETE FROM pipeline_versions WHERE pipeline_version_id = ?", (version_id,)
            )

    # -- bulk load (benchmarks) -------------------------------------------------------------

    def bulk_insert_pipelines(self, rows: list[tuple[str, str, str, str, int]]) -> None:
        """Insert ``(pipeline_id, namespace, name, display_name, created_at)`` rows at once."""
        conn = self._conn()
        with write_transaction(conn):
            conn.executemany(
                "INSERT INTO pipelines (pipeline_id, namespace, name, display_name, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                rows,
            )
