"""KFP list semantics: page size, opaque page tokens, ``sort_by`` and ``filter``.

Pages use keyset pagination: rows are ordered by ``(sort column, seq)`` where ``seq`` is the
insertion order, and the page token carries the last row's key, so a page deep in the list
costs as little as the first one. As in KFP, the token also carries the sort order and the
filter of the first request; later requests that bring a token use those.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jupyter_dsp.stack.errors import invalid_argument
from jupyter_dsp.stack.filtering import TAG_COLUMN, Column, Predicate, parse_filter

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class ListParams:
    """A list request's query parameters, as sent."""

    page_token: str | None = None
    page_size: str | None = None
    sort_by: str | None = None
    filter: str | None = None

    def query(self, listable: Listable) -> ListQuery:
        return parse_list_request(listable, **self.__dict__)


@dataclass(frozen=True)
class Listable:
    """What a resource exposes to list calls."""

    kind: str
    fields: dict[str, Column]
    default_sort: str = "created_at"


@dataclass
class ListQuery:
    kind: str
    page_size: int
    sort_key: str
    sort_column: str
    desc: bool
    predicates: list[Predicate] = field(default_factory=list)
    after: tuple[Any, int] | None = None

    def order_sql(self) -> str:
        direction = "DESC" if self.desc else "ASC"
        return f"{self.sort_column} {direction}, seq {direction}"

    def where_sql(self, with_keyset: bool = True) -> tuple[list[str], list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        for predicate in self.predicates:
            sql, values = predicate.to_sql()
            clauses.append(sql)
            params.extend(values)
        if with_keyset and self.after is not None:
            op = "<" if self.desc else ">"
            clauses.append(f"({self.sort_column}, seq) {op} (?, ?)")
            params.extend(self.after)
        return clauses, params

    def next_token(self, last_row: Any) -> str:
        payload = {
            "k": self.kind,
            "s": self.sort_key,
            "d": self.desc,
            "f": [p.to_json() for p in self.predicates],
            "a": [last_row[self.sort_column], last_row["seq"]],
        }
        raw = json.dumps(payload, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def parse_page_size(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_PAGE_SIZE
    try:
        size = int(raw)
    except ValueError:
        raise invalid_argument(f"Invalid page_size {raw!r}: not an integer") from None
    if size < 0:
        raise invalid_argument(f"The page size should be greater than 0. Got {size}")
    if size == 0:
        return DEFAULT_PAGE_SIZE
    return min(size, MAX_PAGE_SIZE)


def parse_sort_by(raw: str | None, listable: Listable) -> tuple[str, bool]:
    if raw is None or raw.strip() == "":
        return listable.default_sort, False
    parts = raw.lower().split()
    if len(parts) > 2 or (len(parts) == 2 and parts[1] not in ("asc", "desc")):
        raise invalid_argument(
            f"Received invalid sort by format {raw!r}. Supported format:"
            ' "field_name", "field_name desc", or "field_name asc"'
        )
    key = parts[0]
    if key not in listable.fields:
        allowed = ", ".join(sorted(listable.fields))
        raise invalid_argument(
            f"Invalid sorting field: {key!r} on {listable.kind} (supported: {allowed})"
        )
    return key, len(parts) == 2 and parts[1] == "desc"


def parse_list_request(
    listable: Listable,
    *,
    page_token: str | None,
    page_size: str | None,
    sort_by: str | None,
    filter: str | None,  # noqa: A002 - the KFP parameter name
) -> ListQuery:
    size = parse_page_size(page_size)
    if not page_token:
        key, desc = parse_sort_by(sort_by, listable)
        predicates = parse_filter(filter, listable.fields)
        return ListQuery(listable.kind, size, key, listable.fields[key].column, desc, predicates)
    query = _decode_token(page_token, listable, size)
    if (sort_by or "").strip() or (filter or "").strip():
        # as KFP: criteria sent along with a token must be the token's own
        key, desc = parse_sort_by(sort_by, listable)
        predicates = parse_filter(filter, listable.fields)
        if (key, desc, predicates) != (query.sort_key, query.desc, query.predicates):
            raise invalid_argument(
                "page token does not match the supplied sort by and/or filtering criteria."
                " Either specify the same criteria or leave the latter empty if page token"
                " is specified"
            )
    return query


def _decode_token(token: str, listable: Listable, size: int) -> ListQuery:
    bad = invalid_argument("Invalid page_token: it is malformed or belongs to another list")
    try:
        padded = token + "=" * (-len(token) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(payload, dict) or payload.get("k") != listable.kind:
            raise bad
        key = payload["s"]
        if key not in listable.fields:
            raise bad
        after_value, after_seq = payload["a"]
        if not isinstance(after_seq, int) or isinstance(after_seq, bool):
            raise bad
        if not isinstance(after_value, (str, int)) or isinstance(after_value, bool):
            raise bad
        if any(abs(v) >= 2**63 for v in (after_seq, after_value) if isinstance(v, int)):
            raise bad
        predicates = [Predicate.from_json(p) for p in payload["f"]]
        columns = {c.column for c in listable.fields.values()}
        if "tags" in listable.fields:
            columns |= {p.column for p in predicates if TAG_COLUMN.match(p.column)}
        if any(p.column not in columns for p in predicates):
            raise bad
        return ListQuery(
            listable.kind,
            size,
            key,
            listable.fields[key].column,
            bool(payload["d"]),
            predicates,
            (after_value, after_seq),
        )
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise bad from None


@dataclass
class Page:
    rows: list[Any]
    total_size: int
    next_page_token: str

    def to_json(self, items_key: str, serialize: Callable[[Any], dict[str, Any]]) -> dict:
        """The List*Response, empty fields omitted as protojson does (``{}`` when empty)."""
        result: dict[str, Any] = {}
        if self.rows:
            result[items_key] = [serialize(row) for row in self.rows]
        if self.total_size:
            result["total_size"] = self.total_size
        if self.next_page_token:
            result["next_page_token"] = self.next_page_token
        return result


def run_list(
    conn: Any,
    table: str,
    scope: list[tuple[str, Any]],
    query: ListQuery,
    columns: str = "*",
) -> Page:
    """Run a list query on ``table`` restricted by ``scope`` (column = value pairs)."""
    scope_sql = [f"{column} = ?" for column, _ in scope]
    scope_params = [value for _, value in scope]
    filters, filter_params = query.where_sql(with_keyset=False)
    count_where = " AND ".join(scope_sql + filters) or "1"
    total = conn.execute(
        f"SELECT COUNT(*) FROM {table} WHERE {count_where}", scope_params + filter_params
    ).fetchone()[0]
    clauses, params = query.where_sql(with_keyset=True)
    where = " AND ".join(scope_sql + clauses) or "1"
    rows = conn.execute(
        f"SELECT {columns} FROM {table} WHERE {where} ORDER BY {query.order_sql()} LIMIT ?",
        [*scope_params, *params, query.page_size + 1],
    ).fetchall()
    token = ""
    if len(rows) > query.page_size:
        rows = rows[: query.page_size]
        token = query.next_token(rows[-1])
    return Page(rows, total, token)
