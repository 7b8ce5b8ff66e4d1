"""The read side of KFP master's artifact API on the embedded stack, with runs' auth rules.

A run's artifacts belong to the run's namespace: every read looks the run up first and
needs view rights on its namespace (403 otherwise, 404 for an unknown run or artifact).

- ``list_artifacts``: ``ListArtifactResponse`` of a namespace (``namespace``; the default
  one when empty) or of one run (``run_id``, an extension of ours); ``page_size`` and
  ``page_token`` as for the other lists (``sort_by`` / ``filter`` are refused, 400).
- ``get_artifact``: one ``Artifact``.
- ``list_artifact_tasks``: ``ListArtifactTasksResponse`` filtered by ``run_ids``,
  ``task_ids``, ``artifact_ids`` (repeated, as in the proto) and ``type``; ``run_ids`` or
  ``artifact_ids`` is required (the stack does not scan every namespace).
- ``list_tasks``: the tasks of a run in master's ``PipelineTaskDetail`` shape (name, type,
  iteration index, inputs and outputs with artifacts).
- ``open_content``: what to stream for ``GET /artifacts/{id}/content`` (see results_read).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import mimetypes
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from jupyter_dsp.stack.auth import Principal
from jupyter_dsp.stack.errors import ApiError, invalid_argument, not_found
from jupyter_dsp.stack.listing import MAX_PAGE_SIZE, parse_page_size
from jupyter_dsp.stack.results import (
    IO_TYPES,
    Catalog,
    catalog,
    ordered_tasks,
    run_of,
    task_details,
)
from jupyter_dsp.stack.results_read import (
    DEFAULT_MAX_READ,
    ReadPlan,
    ReadRefused,
    iter_file,
    iter_tar,
    plan_read,
    tar_plan,
)
from jupyter_dsp.stack.runner import nofollow
from jupyter_dsp.stack.runner.store import snapshot_of

MAX_READ_ENV = "JUPYTER_DSP_STACK_MAX_READ_BYTES"
MAX_TASKS_PAGE = 1000  # a run's tasks come in large pages (one read for most runs)


def max_read_bytes() -> int:
    raw = os.environ.get(MAX_READ_ENV, "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else DEFAULT_MAX_READ


@dataclass
class Content:
    """An artifact's bytes to stream: ``chunks()`` yields exactly ``plan.length`` bytes."""

    plan: ReadPlan
    filename: str
    content_type: str
    chunks: Callable[[], Iterator[bytes]]


class ReadTooLarge(ApiError):
    """A refused read (413 / 416) that also tells the artifact's size."""

    def __init__(self, refused: ReadRefused) -> None:
        code = 11 if refused.status == 416 else 8  # OUT_OF_RANGE, RESOURCE_EXHAUSTED
        super().__init__(code, refused.message, http_status=refused.status)
        self.size = refused.size


class ResultsService:
    def __init__(self, ctx: Any, runs: Any) -> None:
        self.ctx = ctx
        self.runs = runs  # jupyter_dsp.stack.runner.service.RunService
        self.access = ctx.access

    # ----- helpers -----------------------------------------------------------------------

    def _catalog(self, who: Principal, run_id: str) -> tuple[Catalog, Any]:
        row = self.runs.store.get(run_id)  # 404 for an unknown run
        self.access.check_read(who, row["namespace"])
        snap = self.runs.engine.snapshot(run_id) or snapshot_of(row)
        cat = catalog(run_id, row["namespace"], snap, self.runs.engine.run_dir(run_id))
        return cat, snap

    def _entry(self, who: Principal, artifact_id: str) -> tuple[Catalog, Any]:
        run_id = run_of(artifact_id)
        if not run_id:
            raise not_found(f"Artifact {artifact_id} not found")
        try:
            cat, _ = self._catalog(who, run_id)
        except ApiError as exc:
            if exc.http_status == 404:
                raise not_found(f"Artifact {artifact_id} not found") from None
            raise
        entry = cat.by_id.get(artifact_id)
        if entry is None:
            raise not_found(f"Artifact {artifact_id} not found")
        return cat, entry

    # ----- endpoints ---------------------------------------------------------------------

    def list_artifacts(
        self,
        who: Principal,
        namespace: str | None,
        run_id: str | None,
        page_size: str | None,
        page_token: str | None,
        sort_by: str | None = None,
        filter_: str | None = None,
    ) -> dict[str, Any]:
        if (sort_by or "").strip() or (filter_ or "").strip():
            raise invalid_argument(
                "Artifacts of the embedded stack are listed without sort_by"
                " or filter (list one run with run_id)"
            )
        if run_id:
            cat, _ = self._catalog(who, run_id)
            items = [cat.artifact_json(e) for e in cat.artifacts]
            return _page("artifacts", items, page_size, page_token, f"run:{run_id}")
        ns = self.ctx.experiments.namespace(namespace)
        self.access.check_read(who, ns)
        run_ids = [
            r["run_id"]
            for r in self.ctx.db.conn().execute(
                "SELECT run_id FROM runs WHERE namespace = ? ORDER BY seq", (ns,)
            )
        ]
        items = []
        for rid in run_ids:
            try:
                cat, _ = self._catalog(who, rid)
            except ApiError:  # deleted meanwhile
                continue
            items.extend(cat.artifact_json(e) for e in cat.artifacts)
        return _page("artifacts", items, page_size, page_token, f"ns:{ns}")

    def get_artifact(self, who: Principal, artifact_id: str) -> dict[str, Any]:
        cat, entry = self._entry(who, artifact_id)
        return cat.artifact_json(entry)

    def list_artifact_tasks(
        self,
        who: Principal,
        run_ids: list[str],
        task_ids: list[str],
        artifact_ids: list[str],
        io_type: str | None,
        page_size: str | None,
        page_token: str | None,
    ) -> dict[str, Any]:
        if io_type and io_type not in IO_TYPES and io_type != "UNSPECIFIED":
            raise invalid_argument(f"Unknown type {io_type!r} for artifact tasks")
        wanted_runs = list(dict.fromkeys(run_ids))
        for aid in artifact_ids:
            rid = run_of(aid)
            if not rid:
                raise not_found(f"Artifact {aid} not found")
            if rid not in wanted_runs and not run_ids:
                wanted_runs.append(rid)
        if not wanted_runs:
            raise invalid_argument("List artifact tasks by run_ids or artifact_ids")
        items: list[dict[str, Any]] = []
        for rid in wanted_runs:
            cat, _ = self._catalog(who, rid)
            for link in cat.links:
                if task_ids and link.task_id not in task_ids:
                    continue
                if artifact_ids and link.artifact_id not in artifact_ids:
                    continue
                if io_type and io_type != "UNSPECIFIED" and link.io_type != io_type:
                    continue
                items.append(link.to_json(rid))
        key = json.dumps([wanted_runs, task_ids, artifact_ids, io_type or ""])
        return _page("artifact_tasks", items, page_size, page_token, key)

    def list_tasks(
        self, who: Principal, run_id: str | None, page_size: str | None, page_token: str | None
    ) -> dict[str, Any]:
        if not run_id:
            raise invalid_argument("List tasks of one run: run_id is required")
        cat, snap = self._catalog(who, run_id)
        return _page(
            "tasks",
            ordered_tasks(snap),
            page_size,
            page_token,
            f"run:{run_id}",
            build=lambda records: task_details(snap, cat, records),
            max_size=MAX_TASKS_PAGE,
        )

    def open_content(self, who: Principal, artifact_id: str, range_header: str | None) -> Content:
        cat, entry = self._entry(who, artifact_id)
        path = cat.path_of(entry)
        if path is None:
            raise not_found(
                f"Artifact {artifact_id} ({entry.name}) has no content to read: the step wrote"
                " no file (its metadata is in the artifact)"
            )
        try:
            fd, is_dir = nofollow.open_any(str(path))  # what it is now, no link followed
            with nofollow.closing_fd(fd):
                size = os.fstat(fd).st_size
            if is_dir:
                tar = tar_plan(path)
                plan = plan_read(tar.size, range_header, max_read_bytes())
                return Content(
                    plan,
                    f"{path.name}.tar",
                    "application/x-tar",
                    lambda: iter_tar(tar, plan.start, plan.length),
                )
            plan = plan_read(size, range_header, max_read_bytes())
        except ReadRefused as refused:
            raise ReadTooLarge(refused) from None
        except OSError:
            raise not_found(f"Artifact {artifact_id} cannot be read now") from None
        kind = mimetypes.guess_type(path.name)[0] or _by_schema(entry.schema_title)
        return Content(plan, path.name, kind, lambda: iter_file(path, plan.start, plan.length))


def _by_schema(schema_title: str) -> str:
    return {
        "system.HTML": "text/html",
        "system.Markdown": "text/markdown",
        "system.Dataset": "application/octet-stream",
    }.get(schema_title, "application/octet-stream")


def _page(
    kind: str,
    items: Sequence[Any],
    page_size: str | None,
    token: str | None,
    key: str,
    build: Callable[[list[Any]], list[dict[str, Any]]] = list,
    max_size: int = MAX_PAGE_SIZE,
) -> dict[str, Any]:
    """One page of ``items`` (offset pages; the token names the list it belongs to); only the
    page's items are turned into JSON by ``build``."""
    size = parse_page_size(page_size)
    if size == MAX_PAGE_SIZE and page_size and page_size.strip().isdigit():
        size = min(int(page_size), max_size)  # this list allows larger pages
    digest = hashlib.sha256(f"{kind}\0{key}".encode()).hexdigest()[:16]
    offset = 0
    if token:
        bad = invalid_argument("Invalid page_token: it is malformed or belongs to another list")
        try:
            payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise bad from None
        if not isinstance(payload, dict) or payload.get("l") != digest:
            raise bad
        given = payload.get("o")
        if not isinstance(given, int) or isinstance(given, bool) or given < 0:
            raise bad
        offset = given
    chunk = build(list(items[offset : offset + size]))
    result: dict[str, Any] = {}
    if chunk:
        result[kind] = chunk
    if items:
        result["total_size"] = len(items)
    if offset + size < len(items):
        raw = json.dumps({"l": digest, "o": offset + size}, separators=(",", ":")).encode()
        result["next_page_token"] = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return result
