"""Tornado handlers: thin layers over proxy.py, info.py and logs.py.

Every handler is behind Jupyter's authentication and authorization (resource ``dsp``);
XSRF is checked by Jupyter for cookie-authenticated (browser) writes. Authentication and
authorization are checked in ``prepare`` too, before a streamed body is read.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import authorized
from jupyter_server.auth.utils import HTTP_METHOD_TO_AUTH_ACTION
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import httputil, web
from tornado.iostream import StreamClosedError

from jupyter_dsp.connection.explain import denied_message
from jupyter_dsp.connection.managed import is_managed
from jupyter_dsp.connection.model import Connection, DSPConnectionError, Space
from jupyter_dsp.connection.scrub import StreamScrubber, scrub_bytes, scrub_text, secrets_of
from jupyter_dsp.server import routes
from jupyter_dsp.server.errors import ProxyError, kfp_error_body, upstream_message
from jupyter_dsp.server.info import build_info
from jupyter_dsp.server.logs import read_log
from jupyter_dsp.server.proxy import ProxyExchange, upstream_headers
from jupyter_dsp.server.state import DSPState
from jupyter_dsp.server.upstream import ResponseSink, UpstreamError
from jupyter_dsp.server.version_specs import SpecStripper

AUTH_RESOURCE = "dsp"
# the most an upload may carry through the proxy (the stack takes files up to 32 MB)
MAX_BODY = 48 * 1024 * 1024
BUFFER_BEFORE_FLUSH = 64 * 1024
# response headers passed back to the caller; Set-Cookie, WWW-Authenticate, Server... are not
FORWARD_RESPONSE_HEADERS = (
    "Content-Disposition",
    "X-Log-Next-Offset",
    "X-Log-Complete",
    "X-Log-Size",
    "ETag",
    "Last-Modified",
)
SAFE_CONTENT_TYPES = (
    "application/json",
    "text/plain",
    "application/octet-stream",
    "application/x-yaml",
    "application/yaml",
    "text/yaml",
    "application/zip",
    "application/gzip",
)


def safe_content_type(value: str | None) -> str:
    """Never let the stack serve HTML or script from Jupyter's origin."""
    if not value:
        return "application/octet-stream"
    base = value.split(";")[0].strip().lower()
    return value if base in SAFE_CONTENT_TYPES else "text/plain; charset=utf-8"


class DSPHandler(APIHandler):
    auth_resource = AUTH_RESOURCE

    @property
    def dsp(self) -> DSPState:
        return self.settings["jupyter_dsp_state"]

    async def prepare(self) -> None:  # type: ignore[override]
        await super().prepare()
        if self._finished:
            return
        if not self.current_user:
            raise web.HTTPError(403, "authentication required")
        action = HTTP_METHOD_TO_AUTH_ACTION.get((self.request.method or "").upper())
        if action is None:
            raise web.HTTPError(405)
        allowed = await ensure_async(
            self.authorizer.is_authorized(self, self.current_user, action, AUTH_RESOURCE)
        )
        if not allowed:
            raise web.HTTPError(403, f"not authorized to {action} {AUTH_RESOURCE}")
        self.set_header("Cache-Control", "no-store")

    def compute_etag(self) -> str | None:
        return None  # answers are the stack's; hashing them here only costs time

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Errors in the KFP API's JSON shape, never a traceback."""
        message = httputil.responses.get(status_code, "error")
        exc = (kwargs.get("exc_info") or (None, None, None))[1]
        if isinstance(exc, web.HTTPError):
            if exc.log_message:
                message = exc.log_message % exc.args if exc.args else exc.log_message
        elif exc is not None:
            message = "internal error in the jupyter-dsp server extension (see the server log)"
        self.set_header("Content-Type", "application/json")
        self.finish(kfp_error_body(status_code, message))

    def send_kfp_error(self, status: int, message: str, *, upload: bool = False) -> None:
        self.clear_header("Content-Disposition")
        self.set_status(status)
        self.finish(kfp_error_body(status, message, upload=upload))

    async def connection_or_error(self, *, upload: bool = False) -> Connection | None:
        try:
            return await self.dsp.connection()
        except (DSPConnectionError, ValueError, OSError, RuntimeError) as exc:
            self.send_kfp_error(503, str(exc), upload=upload)
            return None


    async def check_read(self, conn: Connection, space: Space, path: str) -> None:
        """Raise :class:`ProxyError` unless a GET of ``path`` (under ``apis/v2beta1``) through
        the proxy in ``space`` would be let through: the allowlist, the policy and the owner
        namespace check, exactly as :class:`ProxyExchange` makes them."""
        route = routes.match(
            space.name, space.namespace, space.writable, conn.policy, "GET", path, []
        )
        exchange = ProxyExchange(
            self.dsp.pool,
            self.dsp.target(space),
            conn,
            space,
            route,
            "GET",
            httputil.HTTPHeaders(),
            self.dsp.settings.request_timeout,
            self.dsp.owners,
        )
        await exchange.begin()

    async def fetch_upstream(
        self, space: Space, path: str, sink: ResponseSink, headers: dict[str, str] | None = None
    ) -> None:
        """GET ``path`` from the space's stack with its token into ``sink``; an unreachable
        or too slow stack is a :class:`ProxyError` with its 502/504."""
        hdrs = upstream_headers(httputil.HTTPHeaders(), space.token())
        for name, value in (headers or {}).items():
            hdrs[name] = value
        try:
            await self.dsp.pool.fetch(
                self.dsp.target(space),
                "GET",
                path,
                hdrs,
                None,
                sink,
                self.dsp.settings.request_timeout,
            )
        except UpstreamError as exc:
            raise ProxyError(exc.status, str(exc)) from None


class _HandlerSink(ResponseSink):
    """Writes the stack's answer to the caller. Error answers are buffered so 401/403 can be
    explained and the token scrubbed; so is a pipeline read through the shared space of a
    multi-user stack, which must be a shared pipeline (else 404, as if it did not exist)."""

    def __init__(
        self, handler: ProxyHandler, conn: Connection, space: Space, route: routes.Route
    ) -> None:
        self.h = handler
        self.conn = conn
        self.space = space
        self.route = route
        self.code = 0
        self.content_type = "application/json"
        self.pending = 0
        self.error_parts: list[bytes] | None = None
        self.flushed = False
        self.secrets = secrets_of([space.token()])
        self.scrubber = StreamScrubber(self.secrets)
        self.stripper: SpecStripper | None = None

    async def start(self, code: int, reason: str, headers: httputil.HTTPHeaders) -> None:
        self.code = code
        self.h.set_status(code, reason if code not in httputil.responses else None)
        for name in FORWARD_RESPONSE_HEADERS:
            if name in headers:
                self.h.set_header(name, scrub_text(headers[name], self.secrets))
        self.content_type = safe_content_type(headers.get("Content-Type"))
        self.h.set_header("Content-Type", self.content_type)
        if code >= 400 or (code == 200 and self._shared_item_read()):
            self.error_parts = []
        elif code == 200 and self.route.strip_specs:
            self.stripper = SpecStripper()  # the list streams on without the versions' specs
            self.h.clear_header("ETag")

    def _shared_item_read(self) -> bool:
        if self.space.managed == "only":  # a name lookup must find a managed pipeline
            return self.route.kind == "pipelines.by_name"
        return (
            self.space.name == "shared"
            and self.space.multi_user
            and self.route.kind == "pipelines.item"
            and (self.h.request.method or "") == "GET"
        )

    async def data(self, chunk: bytes) -> None:
        if self.error_parts is not None:
            if sum(map(len, self.error_parts)) < 1024 * 1024:
                self.error_parts.append(chunk)
            return
        if self.stripper is not None:
            chunk = self.stripper.feed(chunk)
        self.h.write(self.scrubber.feed(chunk))
        self.pending += len(chunk)
        if self.pending >= BUFFER_BEFORE_FLUSH:
            self.pending = 0
            self.flushed = True
            await self.h.flush()

    async def end(self) -> None:
        if self.error_parts is not None:
            body = b"".join(self.error_parts)
            managed_only = self.space.managed == "only"
            if self.code == 200 and not _is_shared_pipeline(body, managed_only):
                self.h.set_status(404)
                self.h.set_header("Content-Type", "application/json")
                self.h.finish(kfp_error_body(404, "no such pipeline in the shared space"))
                return
            if self.code in (401, 403):
                message = denied_message(
                    self.conn,
                    self.space,
                    self.code,
                    self.h.request.method or "GET",
                    self.route.upstream_path(),
                    upstream_message(body),
                )
                body = kfp_error_body(self.code, message, upload=self.route.upload)
                self.h.set_header("Content-Type", "application/json")
            self.h.write(scrub_bytes(body, self.secrets))
        else:
            if self.stripper is not None:
                self.h.write(self.scrubber.feed(self.stripper.flush()))
            self.h.write(self.scrubber.flush())
        self.h.finish(set_content_type=self.content_type)


def _is_shared_pipeline(body: bytes, managed_only: bool = False) -> bool:
    try:
        data = json.loads(body)
    except ValueError:
        return False
    if managed_only:
        return isinstance(data, dict) and is_managed(data.get("tags"))
    return isinstance(data, dict) and not data.get("namespace")


@web.stream_request_body
class ProxyHandler(DSPHandler):
    """``dsp/api/{space}/apis/v2beta1/...`` to the space's stack."""

    exchange: ProxyExchange | None = None
    failed: ProxyError | None = None
    watchdog: asyncio.Task[None] | None = None

    async def prepare(self) -> None:  # type: ignore[override]
        self.started = self.last_data = time.monotonic()
        await super().prepare()
        if self._finished:
            return
        space_name = self.path_kwargs["space"]
        raw_path_hint = self.request.path.rstrip("/")
        upload = raw_path_hint.endswith(("pipelines/upload", "pipelines/upload_version"))
        length = self.request.headers.get("Content-Length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            self.send_kfp_error(
                413,
                f"request body larger than {MAX_BODY} bytes (the stack takes files up to 32 MB)",
                upload=upload,
            )
            return
        self.request.connection.set_max_body_size(MAX_BODY)  # type: ignore[union-attr]
        # the raw (still percent-encoded) path: tornado's path_kwargs are already decoded
        prefix = url_path_join(self.base_url, f"dsp/api/{space_name}/")
        if not self.request.path.startswith(prefix):
            self.send_kfp_error(404, "not a KFP API path")
            return
        raw_path = self.request.path[len(prefix) :]
        conn = await self.connection_or_error(upload=upload)
        if conn is None:
            return
        try:
            if space_name == "local":
                space: Space | None = await self.dsp.local.space(conn)
            else:
                space = conn.space(space_name)
        except DSPConnectionError as exc:
            self.send_kfp_error(503, str(exc), upload=upload)
            return
        if space is None:
            why = "off" if conn.policy == "off" else "not available for this stack"
            self.send_kfp_error(404, f"the {space_name} space is {why}", upload=upload)
            return
        query = [
            (key, value.decode("utf-8", "replace"))
            for key, values in self.request.query_arguments.items()
            for value in values
        ]
        method = (self.request.method or "").upper()
        try:
            route = routes.match(
                space.name, space.namespace, space.writable, conn.policy, method, raw_path, query
            )
            exchange = ProxyExchange(
                self.dsp.pool,
                self.dsp.target(space),
                conn,
                space,
                route,
                method,
                self.request.headers,
                self.dsp.settings.request_timeout,
                self.dsp.owners,
            )
            await exchange.begin()
        except ProxyError as exc:
            self._fail(exc, conn, upload)
            return
        self.exchange = exchange
        self.conn, self.space, self.route = conn, space, route
        if route.body == "stream":
            self.watchdog = asyncio.ensure_future(self._watch_upload())

    async def _watch_upload(self) -> None:
        """A streamed upload holds an upstream connection: it must keep moving (idle
        timeout) and end in time (whole-request timeout), else both sides are cut (504)."""
        settings = self.dsp.settings
        while not self._finished:
            now = time.monotonic()
            idle_left = self.last_data + settings.idle_timeout - now
            total_left = self.started + settings.total_timeout - now
            if idle_left > 0 and total_left > 0:
                await asyncio.sleep(min(idle_left, total_left, 1.0))
                continue
            if idle_left <= 0:
                why = f"the upload was idle for {settings.idle_timeout:g}s"
            else:
                why = f"the whole request took longer than {settings.total_timeout:g}s"
            if self.exchange is not None:
                self.exchange.abort()
            self.failed = ProxyError(504, f"{why} (DSPSettings.idle_timeout, total_timeout)")
            self._fail(self.failed, self.conn, self.route.upload)
            self.request.connection.close()  # type: ignore[union-attr]
            return

    def _fail(self, exc: ProxyError, conn: Connection, upload: bool) -> None:
        if exc.status == 502 and self.path_kwargs.get("space") == "local":
            self.dsp.local.forget()
        elif exc.status == 502 and conn.mode == "embedded":
            self.dsp.invalidate()
        self.send_kfp_error(exc.status, exc.message, upload=upload)

    async def data_received(self, chunk: bytes) -> None:
        self.last_data = time.monotonic()
        if self.exchange is None or self.failed is not None:
            return
        try:
            await self.exchange.feed(chunk)
        except ProxyError as exc:
            self.failed = exc

    async def _respond(self) -> None:
        if self.watchdog is not None:
            self.watchdog.cancel()
        if self._finished or self.exchange is None:
            return
        left = self.started + self.dsp.settings.total_timeout - time.monotonic()
        self.exchange.timeout = max(0.5, min(self.exchange.timeout, left))
        upload = self.route.upload
        if self.failed is not None:
            self._fail(self.failed, self.conn, upload)
            return
        sink = _HandlerSink(self, self.conn, self.space, self.route)
        try:
            await self.exchange.respond(sink)
        except ProxyError as exc:
            if sink.code == 0:
                self._fail(exc, self.conn, upload)
            else:  # the answer had started: all we can do is cut it
                self.log.warning("jupyter-dsp: upstream failed mid-response: %s", exc.message)
                self.request.connection.close()  # type: ignore[union-attr]
        except StreamClosedError:
            pass  # the caller went away

    @web.authenticated
    @authorized
    async def get(self, space: str, path: str) -> None:
        await self._respond()

    @web.authenticated
    @authorized
    async def post(self, space: str, path: str) -> None:
        await self._respond()

    @web.authenticated
    @authorized
    async def patch(self, space: str, path: str) -> None:
        await self._respond()

    @web.authenticated
    @authorized
    async def delete(self, space: str, path: str) -> None:
        await self._respond()

    def on_connection_close(self) -> None:
        if self.watchdog is not None:
            self.watchdog.cancel()
        if self.exchange is not None:
            self.exchange.abort()
        super().on_connection_close()


class InfoHandler(DSPHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        info = await build_info(self.dsp)
        self.finish(scrub_text(json.dumps(info), await self._secrets()))

    async def _secrets(self) -> list[bytes]:
        try:
            conn = await self.dsp.connection()
        except Exception:  # noqa: BLE001 - no connection: no token was sent anywhere
            return []
        shared = conn.shared.token() if conn.shared is not None else None
        return secrets_of([conn.project.token(), shared])


class LogsHandler(DSPHandler):
    @web.authenticated
    @authorized
    async def get(self, run_id: str, task_id: str) -> None:
        if not routes.ID.match(run_id) or not routes.ID.match(task_id):
            self.send_kfp_error(404, "unknown run or task")
            return
        try:
            offset = int(self.get_query_argument("offset", "0"))
        except ValueError:
            offset = -1
        if offset < 0:
            self.send_kfp_error(400, "offset must be a non-negative integer")
            return
        conn = await self.connection_or_error()
        if conn is None:
            return
        try:
            await self._check_like_the_proxied_route(conn, run_id, task_id)
            piece = await read_log(self.dsp, conn, run_id, task_id, offset)
        except ProxyError as exc:
            self.send_kfp_error(exc.status, exc.message)
            return
        self.set_status(piece.status)
        secrets = secrets_of([conn.project.token()])
        if piece.next_offset is not None:
            self.set_header("X-Log-Next-Offset", scrub_text(piece.next_offset, secrets))
        if piece.complete is not None:
            self.set_header("X-Log-Complete", scrub_text(piece.complete, secrets))
        if piece.size is not None:
            self.set_header("X-Log-Size", scrub_text(piece.size, secrets))
        body = scrub_bytes(piece.body, secrets)
        if piece.status in (401, 403):
            message = denied_message(
                conn, conn.project, piece.status, "GET", "apis/v2beta1/runs", upstream_message(body)
            )
            self.finish(kfp_error_body(piece.status, message))
            return
        self.finish(body, set_content_type=safe_content_type(piece.content_type))


    async def _check_like_the_proxied_route(
        self, conn: Connection, run_id: str, task_id: str
    ) -> None:
        """The same ownership check as ``dsp/api/project/.../runs/{run}/tasks/{task}/logs``."""
        path = f"apis/v2beta1/runs/{run_id}/tasks/{task_id}/logs"
        await self.check_read(conn, conn.project, path)


class UnknownSpaceHandler(DSPHandler):
    """``dsp/api/<anything else>``: 404 in the KFP shape (after authentication)."""

    def _unknown(self) -> None:
        self.send_kfp_error(
            404, "unknown space: use dsp/api/project, dsp/api/shared or dsp/api/local"
        )

    # one decorated method per verb: jupyter_server's @authorized remembers the action of
    # the first call, so the verbs must not share a wrapper
    @web.authenticated
    @authorized
    async def get(self, space: str) -> None:
        self._unknown()

    @web.authenticated
    @authorized
    async def post(self, space: str) -> None:
        self._unknown()

    @web.authenticated
    @authorized
    async def patch(self, space: str) -> None:
        self._unknown()

    @web.authenticated
    @authorized
    async def delete(self, space: str) -> None:
        self._unknown()
