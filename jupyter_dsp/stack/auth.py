"""Bearer tokens and what they allow.

A token has a subject, a role per namespace (``view`` or ``edit``) and a role on the shared
space (``none``, ``view`` or ``edit``). Only a SHA-256 of each token is stored; the token itself
is shown once, when it is created (the data dir's default token also lives in ``D/token``,
mode 0600).

Rules (multi-user mode): reading the shared space (namespace ``""``) is open to every valid
token; writing it needs shared ``edit``. A namespace needs ``view`` to read and ``edit`` to
write. In single-user mode namespaces are ignored: reading needs a valid token, writing needs
``edit`` on the default namespace or on shared.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any

from jupyter_dsp.stack.db import write_transaction
from jupyter_dsp.stack.errors import invalid_argument, not_found, permission_denied

ROLES = ("view", "edit")
SHARED_ROLES = ("none", "view", "edit")
TOKEN_PREFIX = "dsp_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """The caller behind a token."""

    subject: str
    namespaces: dict[str, str] = field(default_factory=dict)
    shared: str = "none"
    token_id: str = ""

    def role(self, namespace: str) -> str | None:
        if namespace == "":
            return None if self.shared == "none" else self.shared
        return self.namespaces.get(namespace)

    def can_read(self, namespace: str) -> bool:
        return namespace == "" or self.role(namespace) in ROLES

    def can_write(self, namespace: str) -> bool:
        return self.role(namespace) == "edit"


@dataclass(frozen=True)
class Access:
    """Authorization decisions for one stack (multi-user or not)."""

    multi_user: bool
    default_namespace: str

    def check_read(self, who: Principal, namespace: str) -> None:
        if not self.multi_user:
            return
        if not who.can_read(namespace):
            raise permission_denied(
                f"{who.subject!r} may not read namespace {namespace!r} (needs view or edit)"
            )

    def check_write(self, who: Principal, namespace: str) -> None:
        if not self.multi_user:
            if who.can_write(self.default_namespace) or who.can_write(""):
                return
            raise permission_denied(f"{who.subject!r} may not write (needs edit)")
        if who.can_write(namespace):
            return
        space = "the shared space" if namespace == "" else f"namespace {namespace!r}"
        raise permission_denied(f"{who.subject!r} may not write {space} (needs edit)")

    def check_row(self, who: Principal, row: Any, write: bool = False) -> Any:
        """``row`` (a resource of namespace ``row["namespace"]``) once ``who`` may read it,
        and write it when ``write``."""
        self.check_read(who, row["namespace"])
        if write:
            self.check_write(who, row["namespace"])
        return row


@dataclass(frozen=True)
class TokenInfo:
    token_id: str
    subject: str
    namespaces: dict[str, str]
    shared: str
    is_default: bool
    created_at: int
    revoked: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "token_id": self.token_id,
            "subject": self.subject,
            "namespaces": self.namespaces,
            "shared": self.shared,
            "default": self.is_default,
            "created_at": self.created_at,
            "revoked": self.revoked,
        }


def validate_roles(namespaces: dict[str, str], shared: str) -> None:
    for namespace, role in namespaces.items():
        if not namespace:
            raise invalid_argument("a namespace role needs a namespace name")
        if role not in ROLES:
            raise invalid_argument(f"role {role!r} for {namespace!r} must be view or edit")
    if shared not in SHARED_ROLES:
        raise invalid_argument(f"shared role {shared!r} must be none, view or edit")


class TokenStore:
    """Tokens in the ``tokens`` table."""

    def __init__(self, conn_factory: Any) -> None:
        self._conn = conn_factory

    def create(
        self,
        subject: str,
        namespaces: dict[str, str] | None = None,
        shared: str = "none",
        *,
        is_default: bool = False,
    ) -> tuple[str, TokenInfo]:
        namespaces = dict(namespaces or {})
        if not subject:
            raise invalid_argument("a token needs a subject")
        validate_roles(namespaces, shared)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token_id = "tok-" + secrets.token_hex(6)
        now = int(time.time())
        conn: sqlite3.Connection = self._conn()
        with write_transaction(conn):
            conn.execute(
                "INSERT INTO tokens (token_id, token_hash, subject, namespaces, shared,"
                " is_default, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    token_id,
                    hash_token(token),
                    subject,
                    json.dumps(namespaces, sort_keys=True),
                    shared,
                    int(is_default),
                    now,
                ),
            )
        return token, TokenInfo(token_id, subject, namespaces, shared, is_default, now, False)

    def authenticate(self, token: str) -> Principal | None:
        row = (
            self._conn()
            .execute(
                "SELECT token_id, subject, namespaces, shared FROM tokens"
                " WHERE token_hash = ? AND revoked_at IS NULL",
                (hash_token(token),),
            )
            .fetchone()
        )
        if row is None:
            return None
        return Principal(row["subject"], json.loads(row["namespaces"]), row["shared"], row[0])

    def list(self, include_revoked: bool = False) -> list[TokenInfo]:
        sql = "SELECT * FROM tokens"
        if not include_revoked:
            sql += " WHERE revoked_at IS NULL"
        rows = self._conn().execute(sql + " ORDER BY created_at, token_id").fetchall()
        return [
            TokenInfo(
                r["token_id"],
                r["subject"],
                json.loads(r["namespaces"]),
                r["shared"],
                bool(r["is_default"]),
                r["created_at"],
                r["revoked_at"] is not None,
            )
            for r in rows
        ]

    def grant(self, token_id: str, namespace: str, role: str) -> None:
        """Give a token ``role`` on ``namespace`` (kept if it already has edit there)."""
        validate_roles({namespace: role}, "none")
        conn: sqlite3.Connection = self._conn()
        with write_transaction(conn):
            row = conn.execute(
                "SELECT namespaces FROM tokens WHERE token_id = ?", (token_id,)
            ).fetchone()
            if row is None:
                raise not_found(f"no token with id {token_id!r}")
            namespaces = json.loads(row["namespaces"])
            if namespaces.get(namespace) != "edit":
                namespaces[namespace] = role
            conn.execute(
                "UPDATE tokens SET namespaces = ? WHERE token_id = ?",
                (json.dumps(namespaces, sort_keys=True), token_id),
            )

    def revoke(self, token_id: str) -> None:
        conn: sqlite3.Connection = self._conn()
        with write_transaction(conn):
            cur = conn.execute(
                "UPDATE tokens SET revoked_at = ? WHERE token_id = ? AND revoked_at IS NULL",
                (int(time.time()), token_id),
            )
            if cur.rowcount == 0:
                raise not_found(f"no active token with id {token_id!r}")
