"""``dsp/api/{space}/apis/v2beta1/...``: the proxy's tornado handler over proxy.py.

The stack's answer goes back through :class:`_HandlerSink`: its status, a safe content type
and the few headers the caller needs, each rebuilt from its meaning (server/egress.py), never
copied; the body streams through the handler's egress scrubber. One deadline
(``DSPSettings.total_timeout``) covers the whole request: reading the caller's body (also kept
moving by ``idle_timeout``), waiting for the stack and streaming its answer.
"""

from __future__ import annotations

import asyncio
import json
import time

from jupyter_server.utils import url_path_join
from tornado import httputil, web
from tornado.iostream import StreamClosedError

from jupyter_dsp.common.managed import is_managed
from jupyter_dsp.connection.explain import denied_message
from jupyter_dsp.connection.model import Connection, DSPConnectionError, Space
from jupyter_dsp.server import routes
from jupyter_dsp.server.deadline import deadline_message
from jupyter_dsp.server.egress import (
    content_disposition,
    date_header,
    digits_header,
    etag_header,
    flag_header,
)
from jupyter_dsp.server.errors import ProxyError, kfp_error_body, upstream_message
from jupyter_dsp.server.handlers import EveryVerbHandler, safe_content_type
from jupyter_dsp.server.proxy import ProxyExchange
from jupyter_dsp.server.upstream_response import ResponseSink
from jupyter_dsp.server.version_specs import SpecStripper

# the most an upload may carry through the proxy (the stack takes files up to 32 MB)
MAX_BODY = 48 * 1024 * 1024
BUFFER_BEFORE_FLUSH = 64 * 1024
# response headers the caller gets, each rebuilt from its meaning (never copied); Set-Cookie,
# WWW-Authenticate, Server... are never passed
REBUILT_RESPONSE_HEADERS = {
    "X-Log-Next-Offset": digits_header,
    "X-Log-Complete": flag_header,
    "X-Log-Size": digits_header,
    "ETag": etag_header,
    "Last-Modified": date_header,
}


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
        self.stripper: SpecStripper | None = None

    async def start(self, code: int, reason: str, headers: httputil.HTTPHeaders) -> None:
        self.code = code
        self.h.set_status(code, reason if code not in httputil.responses else None)
        for name, rebuild in REBUILT_RESPONSE_HEADERS.items():
            value = rebuild(headers.get(name))
            if value is not None:
                self.h.set_header(name, value)
        if "Content-Disposition" in headers:  # named for what was asked, not what was said
            self.h.set_header("Content-Disposition", content_disposition(self.route.segments[-1]))
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
        self.h.write(chunk)
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
            self.h.write(body)
        elif self.stripper is not None:
            self.h.write(self.stripper.flush())
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
class ProxyHandler(EveryVerbHandler):
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
                space.name,
                space.namespace,
                space.writable,
                conn.policy,
                method,
                raw_path,
                query,
                managed=space.managed,
            )
            exchange = self.dsp.exchange(conn, space, route, method, self.request.headers)
            # the stack's answers to the checks before the body count against the deadline too
            total = self.dsp.settings.total_timeout
            left = max(0.5, self.started + total - time.monotonic())
            try:
                await asyncio.wait_for(exchange.begin(), timeout=left)
            except asyncio.TimeoutError:
                exchange.abort()
                raise ProxyError(504, deadline_message(total)) from None
        except ProxyError as exc:
            self._fail(exc, conn, upload)
            return
        self.exchange = exchange
        self.conn, self.space, self.route = conn, space, route
        # the caller's body is read from now on: its idle clock starts here, not when the
        # request arrived (resolving the connection may have taken seconds, with no body read)
        self.last_data = time.monotonic()
        self.watchdog = asyncio.ensure_future(self._watch_upload())

    async def _watch_upload(self) -> None:
        """While the caller's body is read (streamed to the stack or buffered here) it must
        keep moving (idle timeout) and end in time (whole-request timeout), else both sides
        are cut (504)."""
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

    async def answer(self, *args: str, **kwargs: str) -> None:
        """The stack's answer, whatever the verb, once the caller's body is in."""
        if self.watchdog is not None:
            self.watchdog.cancel()
        if self._finished or self.exchange is None:
            return
        total = self.dsp.settings.total_timeout
        left = max(0.5, self.started + total - time.monotonic())
        self.exchange.timeout = min(self.exchange.timeout, left)
        upload = self.route.upload
        if self.failed is not None:
            self._fail(self.failed, self.conn, upload)
            return
        sink = _HandlerSink(self, self.conn, self.space, self.route)
        try:
            # the deadline covers the wait and the whole answer: a stack trickling it is cut
            await asyncio.wait_for(self.exchange.respond(sink), timeout=left)
        except asyncio.TimeoutError:
            why = deadline_message(total)
            if not sink.flushed:  # nothing sent yet: a 504 that says why
                self.clear()
                self._fail(ProxyError(504, why), self.conn, upload)
            else:
                self.log.warning("jupyter-dsp: answer cut: %s", why)
                self.request.connection.close()  # type: ignore[union-attr]
        except ProxyError as exc:
            if sink.code == 0 or not sink.flushed:  # nothing sent yet: say why instead
                self.clear()
                self._fail(exc, self.conn, upload)
            else:  # the answer had started: all we can do is cut it
                self.log.warning("jupyter-dsp: upstream failed mid-response: %s", exc.message)
                self.request.connection.close()  # type: ignore[union-attr]
        except StreamClosedError:
            pass  # the caller went away

    def on_connection_close(self) -> None:
        if self.watchdog is not None:
            self.watchdog.cancel()
        if self.exchange is not None:
            self.exchange.abort()
        super().on_connection_close()
