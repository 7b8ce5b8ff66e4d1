"""Run results through the server extension: the results document and artifact bytes.

- ``GET {base}dsp/results/{run_id}?space=project|local``: the results document
  (CONTRACTS.md), from the embedded stack's artifact API (``/apis/v2beta1/tasks?run_id=``),
  or on a cluster from ML Metadata (:mod:`jupyter_dsp.server.results_cluster`).
- ``GET {base}dsp/artifacts/{run_id}/{artifact_id}?space=project|local``: the artifact's
  bytes, streamed with backpressure (the server holds one chunk at a time), ``Range:
  bytes=START-END`` (206, ``Content-Range``), ``Content-Length``, ``Content-Disposition:
  attachment``; a read larger than the cap (``JUPYTER_DSP_MAX_ARTIFACT_READ`` bytes, default
  1 GiB) is a 413 that says to ask for a range, an unsatisfiable range a 416.

Both are authenticated and authorized like every ``dsp/`` handler (resource ``dsp``, read).
The run is checked to be in the project namespace (the same check as the proxy's
``dsp/api/project/.../runs/{id}``) before anything is read, and the artifact to belong to
that run. The token goes to the stack only; it is never in an answer (every byte and header
passes the egress scrubber, server/egress.py). ``Content-Disposition`` is made from the
artifact's own name (its record), never copied from the stack's answer.
Errors are KFP's error JSON.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from jupyter_server.auth.decorator import authorized
from tornado import httputil, web
from tornado.iostream import StreamClosedError

from jupyter_dsp.connection.model import Connection, DSPConnectionError, Space
from jupyter_dsp.results.document import MAX_TASK_PAGES, TASKS_PAGE_SIZE, document_from_stack
from jupyter_dsp.server import routes
from jupyter_dsp.server.deadline import whole_request
from jupyter_dsp.server.egress import content_disposition, content_type_of, max_read_bytes
from jupyter_dsp.server.errors import ProxyError, stack_json
from jupyter_dsp.server.handlers import MAX_JSON, DSPHandler
from jupyter_dsp.server.results_cluster import ClusterResults
from jupyter_dsp.server.upstream_response import BufferSink, ResponseSink

API = "/apis/v2beta1"
CLUSTER_MODES = ("cluster-dspa", "cluster-kubeflow")
STACK_STEP = 256 * 1024 * 1024  # a whole download is read from the stack in pieces this big
FLUSH_BYTES = 512 * 1024  # what the server may hold of an artifact before it waits for the caller


class OverCap(Exception):
    def __init__(self, length: int, cap: int) -> None:
        super().__init__(
            f"this read is {length} bytes, more than the {cap} bytes one read may return;"
            " ask for a part with a Range header (bytes=START-END)"
        )


class _ResultsBase(DSPHandler):
    """What both endpoints share: the space, the ownership check, JSON reads from the stack."""

    requested_space = "project"

    def space_name(self) -> str:
        values = self.get_query_arguments("space")
        if len(values) > 1:
            raise ProxyError(400, "give space once")
        name = values[0] if values else "project"
        if name not in ("project", "local"):
            raise ProxyError(400, "space must be project or local")
        return name

    async def open_space(self, conn: Connection, name: str) -> Space:
        try:
            space = await self.dsp.local.space(conn) if name == "local" else conn.project
        except DSPConnectionError as exc:
            raise ProxyError(503, str(exc)) from None
        if space is None:
            raise ProxyError(404, f"the {name} space is not available")
        return space

    async def check_run(self, conn: Connection, space: Space, run_id: str) -> None:
        """The run must be the space's (403 for a run of another namespace)."""
        await self.check_read(conn, space, f"apis/v2beta1/runs/{run_id}")

    async def guarded(self, work: Callable[[], Awaitable[None]]) -> None:
        try:
            await work()
        except ProxyError as exc:
            if not self._headers_written:
                content_range = self._headers.get("Content-Range")
                self.clear()  # drop what a partial answer had set and buffered
                if exc.status == 416 and content_range:
                    self.set_header("Content-Range", content_range)
                self.send_kfp_error(exc.status, exc.message)
            else:
                self.request.connection.close()  # type: ignore[union-attr]
        except StreamClosedError:
            pass  # the caller went away

    async def prepare_run(self, run_id: str) -> tuple[Connection, Space] | None:
        if not routes.ID.match(run_id):
            raise ProxyError(404, "unknown run")
        name = self.space_name()
        conn = await self.connection_or_error()
        if conn is None:
            return None
        space = await self.open_space(conn, name)
        await self.check_run(conn, space, run_id)
        self.requested_space = name
        return conn, space

    def from_cluster(self, conn: Connection, space: Space) -> bool:
        """ML Metadata for the project space of a cluster (the local space is a stack,
        whose Space is also named "project": the proxy's project rules apply to it)."""
        return self.requested_space == "project" and conn.mode in CLUSTER_MODES


class ResultsHandler(_ResultsBase):
    @web.authenticated
    @authorized
    @whole_request
    async def get(self, run_id: str) -> None:
        await self.guarded(lambda: self._results(run_id))

    async def _results(self, run_id: str) -> None:
        opened = await self.prepare_run(run_id)
        if opened is None:
            return
        conn, space = opened
        run = await self.get_json(conn, space, f"{API}/runs/{run_id}")
        if self.from_cluster(conn, space):
            doc = await ClusterResults(self.dsp, conn).document({**run, "run_id": run_id})
        else:
            tasks = await self._stack_tasks(conn, space, run_id)
            if tasks is None:  # not a jupyter-dsp stack: try ML Metadata
                doc = await ClusterResults(self.dsp, conn).document({**run, "run_id": run_id})
            else:
                doc = document_from_stack(run, tasks)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(doc))  # (scrubbed on the way out, server/egress.py)

    async def _stack_tasks(
        self, conn: Connection, space: Space, run_id: str
    ) -> list[dict[str, Any]] | None:
        tasks: list[dict[str, Any]] = []
        token = ""
        for _ in range(MAX_TASK_PAGES):
            query = {"run_id": run_id, "page_size": str(TASKS_PAGE_SIZE)}
            if token:
                query["page_token"] = token
            path = f"{API}/tasks?{urlencode(query)}"
            sink = BufferSink(limit=MAX_JSON)
            await self.fetch_upstream(space, path, sink)
            if sink.code in (404, 501) and not tasks:
                return None
            if sink.code != 200:
                raise self.upstream_error(conn, space, sink.code, sink.body, path)
            page = stack_json(sink.body, "tasks")
            tasks.extend(page.get("tasks") or [])
            token = page.get("next_page_token") or ""
            if not token:
                return tasks
        raise ProxyError(502, "the pipeline stack kept answering more pages of tasks")


class _ContentSink(ResponseSink):
    """Streams the stack's answer to the caller, one chunk at a time (flush = backpressure).

    ``part``: "as-is" (the caller's own range, passed through), "first" (the first piece of a
    whole download: the answer is a 200 of the artifact's full size) or "next" (a later piece:
    bytes only)."""

    def __init__(self, handler: ArtifactHandler, cap: int, part: str = "as-is") -> None:
        self.h = handler
        self.cap = cap
        self.part = part
        self.code = 0
        self.headers = httputil.HTTPHeaders()
        self.error_parts: list[bytes] | None = None
        self.pending = 0
        self.received = 0
        self.total = 0
        self.content_type = "application/octet-stream"

    async def start(self, code: int, reason: str, headers: httputil.HTTPHeaders) -> None:
        self.code, self.headers = code, headers
        if code >= 400 or (self.part == "next" and code != 206):
            self.error_parts = []
            return
        length = int(headers.get("Content-Length") or 0)
        total = headers.get("Content-Range", "").rpartition("/")[2]
        self.total = int(total) if self.part == "first" and total.isdigit() else length
        if self.part == "next":
            return
        if self.total > self.cap:
            raise OverCap(self.total, self.cap)
        self.h.set_status(200 if self.part == "first" else code)
        self.h.set_header("Content-Length", str(self.total))
        self.content_type = content_type_of(headers.get("Content-Type"))
        self.h.set_header("Content-Type", self.content_type)
        self.h.set_header("X-Content-Type-Options", "nosniff")
        self.h.set_header("Content-Security-Policy", "sandbox; default-src 'none'")
        self.h.set_header("Accept-Ranges", "bytes")
        if headers.get("Content-Range") and self.part == "as-is":
            self.h.set_header("Content-Range", headers["Content-Range"])
        self.h.set_header("Content-Disposition", self.h.disposition())

    async def data(self, chunk: bytes) -> None:
        if self.error_parts is not None:
            if sum(map(len, self.error_parts)) < 1024 * 1024:
                self.error_parts.append(chunk)
            return
        self.h.write(chunk)
        self.received += len(chunk)
        self.pending += len(chunk)
        if self.pending >= FLUSH_BYTES:  # bounded: at most FLUSH_BYTES wait in the server
            self.pending = 0
            await self.h.flush()

    async def end(self) -> None:
        return


class ArtifactHandler(_ResultsBase):
    artifact_id = ""
    artifact_name = ""

    @web.authenticated
    @authorized
    @whole_request
    async def get(self, run_id: str, artifact_id: str) -> None:
        await self.guarded(lambda: self._artifact(run_id, artifact_id))

    def disposition(self) -> str:
        """From the artifact's own name (its record), quoted (RFC 6266), never copied."""
        return content_disposition(self.artifact_name, fallback=self.artifact_id)

    async def _artifact(self, run_id: str, artifact_id: str) -> None:
        if not routes.ID.match(artifact_id):
            raise ProxyError(404, "unknown artifact")
        self.artifact_id = artifact_id
        opened = await self.prepare_run(run_id)
        if opened is None:
            return
        conn, space = opened
        range_values = self.request.headers.get_list("Range")
        if len(range_values) > 1:
            raise ProxyError(416, "give one Range header")
        range_header = range_values[0] if range_values else None
        if self.from_cluster(conn, space):
            await ClusterResults(self.dsp, conn).stream(self, run_id, artifact_id, range_header)
            return
        await self._check_belongs(conn, space, run_id, artifact_id)
        path = f"{API}/artifacts/{artifact_id}/content"
        if range_header:  # the caller's range, as the stack answers it
            sink = await self._piece(conn, space, path, "as-is", range_header)
        else:  # the whole artifact, from the stack in pieces within its per-read cap
            sink = await self._piece(conn, space, path, "first", f"bytes=0-{STACK_STEP - 1}")
            if sink.code == 416:  # an empty artifact
                self.set_status(200)
                self.set_header("Content-Length", "0")
                self.set_header("Content-Disposition", self.disposition())
                self.finish(set_content_type="application/octet-stream")
                return
            done = sink.received
            while done < sink.total:
                last = min(done + STACK_STEP, sink.total) - 1
                piece = await self._piece(conn, space, path, "next", f"bytes={done}-{last}")
                if piece.error_parts is not None or piece.received != last - done + 1:
                    raise ProxyError(502, "the pipeline stack stopped answering mid-artifact")
                done += piece.received
        self.finish(set_content_type=sink.content_type)  # (APIHandler would say JSON)

    async def _piece(
        self, conn: Connection, space: Space, path: str, part: str, range_header: str
    ) -> _ContentSink:
        sink = _ContentSink(self, max_read_bytes(), part)
        try:
            await self.fetch_upstream(space, path, sink, {"Range": range_header})
        except OverCap as exc:
            raise ProxyError(413, str(exc)) from None
        if sink.error_parts is not None and not (part == "first" and sink.code == 416):
            body = b"".join(sink.error_parts)
            error = self.upstream_error(conn, space, sink.code, body, path)
            if sink.code == 416 and sink.headers.get("Content-Range"):
                self.set_header("Content-Range", sink.headers["Content-Range"])
            raise error
        return sink

    async def _check_belongs(
        self, conn: Connection, space: Space, run_id: str, artifact_id: str
    ) -> None:
        query = urlencode({"run_ids": run_id, "artifact_ids": artifact_id, "page_size": "1"})
        try:
            links = await self.get_json(conn, space, f"{API}/artifact_tasks?{query}")
        except ProxyError as exc:
            if exc.status in (400, 404):
                raise ProxyError(404, f"run {run_id} has no artifact {artifact_id}") from None
            raise
        if not links.get("artifact_tasks"):
            raise ProxyError(404, f"run {run_id} has no artifact {artifact_id}")
        record = await self.get_json(conn, space, f"{API}/artifacts/{artifact_id}")
        uri = str(record.get("uri") or "").rstrip("/")
        self.artifact_name = uri.rsplit("/", 1)[-1] or str(record.get("name") or "")


def result_handlers() -> list[tuple[str, type[DSPHandler]]]:
    """The routes (relative to the server's base URL), for server/extension.py."""
    return [
        (r"dsp/results/([^/]+)", ResultsHandler),
        (r"dsp/artifacts/([^/]+)/([^/]+)", ArtifactHandler),
    ]
