"""What every SQLite store of the stack shares: a table whose rows have a unique id.

A store names its ``table``, the id column (``key``) and what a row is called in errors
(``kind``: ``"Run"`` gives "Run <id> not found"). It gets a row by id, a page of rows (KFP's
list semantics, see listing), changes a column of one row and deletes one; anything a
resource needs beyond that stays in its own store. No authorization here: see the services.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from jupyter_dsp.stack.db import write_transaction
from jupyter_dsp.stack.errors import ApiError, not_found
from jupyter_dsp.stack.listing import ListQuery, Page, run_list

Connect = Callable[[], sqlite3.Connection]  # the calling thread's connection


class TableStore:
    table: str
    key: str
    kind: str

    def __init__(self, conn: Connect) -> None:
        self._conn = conn

    @classmethod
    def of(cls, conn: Connect, table: str, key: str, kind: str) -> TableStore:
        """A store of ``table`` (for a store that keeps more than one table)."""
        store = cls(conn)
        store.table, store.key, store.kind = table, key, kind
        return store

    def missing(self, row_id: str) -> ApiError:
        return not_found(f"{self.kind} {row_id} not found")

    def get(self, row_id: str) -> sqlite3.Row:
        row = (
            self._conn()
            .execute(f"SELECT * FROM {self.table} WHERE {self.key} = ?", (row_id,))
            .fetchone()
        )
        if row is None:
            raise self.missing(row_id)
        return row

    def list(self, scope: list[tuple[str, Any]], query: ListQuery, columns: str = "*") -> Page:
        """A page of the rows where each ``(column, value)`` of ``scope`` holds."""
        return run_list(self._conn(), self.table, scope, query, columns)

    def set_column(self, row_id: str, column: str, value: Any) -> None:
        conn = self._conn()
        with write_transaction(conn):
            cur = conn.execute(
                f"UPDATE {self.table} SET {column} = ? WHERE {self.key} = ?", (value, row_id)
            )
            if cur.rowcount == 0:
                raise self.missing(row_id)

    def delete(self, row_id: str) -> None:
        conn = self._conn()
        with write_transaction(conn):
            cur = conn.execute(f"DELETE FROM {self.table} WHERE {self.key} = ?", (row_id,))
            if cur.rowcount == 0:
                raise self.missing(row_id)
