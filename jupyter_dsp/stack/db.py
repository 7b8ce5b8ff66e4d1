"""SQLite storage of the embedded stack: connections and the versioned schema.

The schema is an ordered list of migrations, :data:`MIGRATIONS`. Each one runs once, in its
own transaction, and bumps ``PRAGMA user_version`` to its number. To change the schema,
*append* a migration (never edit one that has shipped); for instance the runs part adds
its tables with :func:`register_migration`.

The database runs in WAL mode with ``synchronous=FULL`` so that a transaction that has
committed survives a kill -9 or a power cut; every write commits before its HTTP answer.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

BUSY_TIMEOUT_MS = 10_000


@dataclass(frozen=True)
class Migration:
    """One step of the schema: ``version`` must be the previous one plus one."""

    version: int
    name: str
    apply: Callable[[sqlite3.Connection], None]


def sql_script(script: str) -> Callable[[sqlite3.Connection], None]:
    """A migration step that runs the statements of ``script`` (separated by ``;``)."""
    statements = [s.strip() for s in script.split(";") if s.strip()]

    def run(conn: sqlite3.Connection) -> None:
        for statement in statements:
            conn.execute(statement)

    return run


_V1_CORE = """
CREATE TABLE tokens (
    token_id    TEXT PRIMARY KEY,
    token_hash  TEXT NOT NULL UNIQUE,
    subject     TEXT NOT NULL,
    namespaces  TEXT NOT NULL,          -- JSON object {namespace: "view"|"edit"}
    shared      TEXT NOT NULL,          -- "none" | "view" | "edit"
    is_default  INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,       -- microseconds since the epoch
    revoked_at  INTEGER
);
CREATE TABLE pipelines (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    pipeline_id  TEXT NOT NULL UNIQUE,
    namespace    TEXT NOT NULL,
    name         TEXT NOT NULL,
    display_name TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    tags         TEXT NOT NULL DEFAULT '{}',
    created_at   INTEGER NOT NULL,
    UNIQUE (namespace, name)
);
CREATE INDEX pipelines_ns_created ON pipelines (namespace, created_at, seq);
CREATE INDEX pipelines_ns_name ON pipelines (namespace, name, seq);
CREATE INDEX pipelines_ns_display ON pipelines (namespace, display_name, seq);
CREATE TABLE pipeline_versions (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    pipeline_version_id TEXT NOT NULL UNIQUE,
    pipeline_id         TEXT NOT NULL REFERENCES pipelines (pipeline_id),
    name                TEXT NOT NULL,
    display_name        TEXT NOT NULL,
    description         TEXT NOT NULL DEFAULT '',
    tags                TEXT NOT NULL DEFAULT '{}',
    created_at          INTEGER NOT NULL,
    package_url         TEXT NOT NULL DEFAULT '',
    code_source_url     TEXT NOT NULL DEFAULT '',
    spec_yaml           TEXT NOT NULL,  -- the uploaded pipeline spec documents, whole
    spec_json           TEXT NOT NULL,  -- pipeline_spec as the API returns it
    UNIQUE (pipeline_id, name)
);
CREATE INDEX versions_pipeline_created ON pipeline_versions (pipeline_id, created_at, seq);
CREATE INDEX versions_pipeline_name ON pipeline_versions (pipeline_id, name, seq);
CREATE INDEX versions_pipeline_display ON pipeline_versions (pipeline_id, display_name, seq);
CREATE TABLE experiments (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    experiment_id       TEXT NOT NULL UNIQUE,
    namespace           TEXT NOT NULL,
    display_name        TEXT NOT NULL,
    description         TEXT NOT NULL DEFAULT '',
    created_at          INTEGER NOT NULL,
    storage_state       TEXT NOT NULL DEFAULT 'AVAILABLE',
    last_run_created_at INTEGER NOT NULL DEFAULT 0,
    UNIQUE (namespace, display_name)
);
CREATE INDEX experiments_ns_created ON experiments (namespace, created_at, seq);
"""

MIGRATIONS: list[Migration] = [
    Migration(1, "tokens, pipelines, pipeline versions, experiments", sql_script(_V1_CORE)),
]


def register_migration(migration: Migration) -> None:
    """Append a migration (idempotent for the same version and name)."""
    for existing in MIGRATIONS:
        if existing.version == migration.version:
            if existing.name == migration.name:
                return
            raise ValueError(f"migration {migration.version} already is {existing.name!r}")
    if migration.version != MIGRATIONS[-1].version + 1:
        raise ValueError(f"migration {migration.version} must follow {MIGRATIONS[-1].version}")
    MIGRATIONS.append(migration)


def connect(path: Path) -> sqlite3.Connection:
    """Open a connection configured for the stack (autocommit; explicit transactions)."""
    conn = sqlite3.connect(
        str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
    )
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


@contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``: takes the write lock up front, rolls back on error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema up to date; returns the resulting version."""
    with write_transaction(conn):
        current = conn.execute("PRAGMA user_version").fetchone()[0]
        for migration in MIGRATIONS:
            if migration.version <= current:
                continue
            migration.apply(conn)
            conn.execute(f"PRAGMA user_version = {int(migration.version)}")
            current = migration.version
    return current


class Database:
    """A database file with one connection per thread (SQLite connections are not shared)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        migrate(self.conn())

    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path)
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self._all.clear()
        self._local = threading.local()
