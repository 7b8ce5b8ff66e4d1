"""Tornado handlers: :class:`DSPHandler` (what every ``dsp/`` handler shares) and the
``dsp/info``, ``dsp/logs`` and unknown-space handlers; the proxy's is in proxy_handler.py.

Every handler is behind Jupyter's authentication and authorization (resource ``dsp``);
XSRF is checked by Jupyter for cookie-authenticated (browser) writes. Authentication and
authorization are checked in ``prepare`` too, before a streamed body is read. Every header
and byte a handler sends passes the egress scrubber (server/egress.py).
"""

from __future__ import annotations

import json
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import authorized
from jupyter_server.auth.utils import HTTP_METHOD_TO_AUTH_ACTION
from jupyter_server.base.handlers import APIHandler
from tornado import httputil, web

from jupyter_dsp.connection.explain import denied_message
from jupyter_dsp.connection.model import Connection, DSPConnectionError, Space
from jupyter_dsp.server import routes
from jupyter_dsp.server.deadline import whole_request
from jupyter_dsp.server.egress import EgressHandlerMixin, digits_header, flag_header
from jupyter_dsp.server.errors import ProxyError, kfp_error_body, stack_json, upstream_message
from jupyter_dsp.server.info import build_info
from jupyter_dsp.server.logs import read_log
from jupyter_dsp.server.state import DSPState
from jupyter_dsp.server.upstream_response import BufferSink, ResponseSink, UpstreamError

AUTH_RESOURCE = "dsp"
MAX_JSON = 64 * 1024 * 1024  # the largest JSON answer of a stack read whole (get_json)
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


class DSPHandler(EgressHandlerMixin, APIHandler):
    auth_resource = AUTH_RESOURCE

    @property
    def dsp(self) -> DSPState:
        return self.settings["jupyter_dsp_state"]

    def egress_tokens(self) -> list[str]:
        state = self.settings.get("jupyter_dsp_state")
        return state.tokens() if state is not None else []

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

    def one(self, name: str) -> str:
        """A query argument given at most once (a 400 when repeated), "" when absent."""
        values = self.get_query_arguments(name)
        if len(values) > 1:
            raise ProxyError(400, f"give {name} once")
        return values[0] if values else ""

    async def connection_or_error(self, *, upload: bool = False) -> Connection | None:
        try:
            return await self.dsp.connection()
        except (DSPConnectionError, ValueError, OSError, RuntimeError) as exc:
            self.send_kfp_error(503, str(exc), upload=upload)
            return None

    async def check_read(self, conn: Connection, space: Space, path: str) -> None:
        """Raise :class:`ProxyError` unless a GET of ``path`` (under ``apis/v2beta1``) through
        the proxy in ``space`` would be let through: the allowlist, the policy and the owner
        namespace check, exactly as :class:`~jupyter_dsp.server.proxy.ProxyExchange` makes them."""
        route = routes.match(
            space.name, space.namespace, space.writable, conn.policy, "GET", path, []
        )
        await self.dsp.exchange(conn, space, route).begin()

    async def get_json(self, conn: Connection, space: Space, path: str) -> dict[str, Any]:
        """The JSON object the space's stack answers to a GET of ``path``; its refusal (with
        what to do about a 401/403) or anything but an object is a :class:`ProxyError`."""
        sink = BufferSink(limit=MAX_JSON)
        await self.fetch_upstream(space, path, sink)
        if sink.code != 200:
            raise self.upstream_error(conn, space, sink.code, sink.body, path)
        return stack_json(sink.body)

    def upstream_error(
        self, conn: Connection, space: Space, code: int, body: bytes, path: str
    ) -> ProxyError:
        message = upstream_message(body) or f"the pipeline stack answered {code}"
        if code in (401, 403):
            message = denied_message(conn, space, code, "GET", path.lstrip("/"), message)
        return ProxyError(code if 400 <= code < 600 else 502, message)

    async def fetch_upstream(
        self, space: Space, path: str, sink: ResponseSink, headers: dict[str, str] | None = None
    ) -> None:
        """GET ``path`` from the space's stack with its token into ``sink``; an unreachable
        or too slow stack is a :class:`ProxyError` with its 502/504."""
        try:
            await self.dsp.get_from(space, path, sink, headers)
        except UpstreamError as exc:
            raise ProxyError(exc.status, str(exc)) from None


class InfoHandler(DSPHandler):
    @web.authenticated
    @authorized
    @whole_request
    async def get(self) -> None:
        info = await build_info(self.dsp)
        self.finish(json.dumps(info))  # (scrubbed on the way out, server/egress.py)


class LogsHandler(DSPHandler):
    @web.authenticated
    @authorized
    @whole_request
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
        # headers rebuilt from what they mean, never copied (server/egress.py)
        for name, value in (
            ("X-Log-Next-Offset", digits_header(piece.next_offset)),
            ("X-Log-Complete", flag_header(piece.complete)),
            ("X-Log-Size", digits_header(piece.size)),
        ):
            if value is not None:
                self.set_header(name, value)
        body = piece.body
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


def _answering() -> Any:
    """A verb's method that authenticates, authorizes and calls ``answer``. A fresh wrapper
    per verb: jupyter_server's @authorized remembers the action of its first call."""

    @web.authenticated
    @authorized
    async def verb(self: EveryVerbHandler, *args: str, **kwargs: str) -> None:
        await self.answer(*args, **kwargs)

    return verb


class EveryVerbHandler(DSPHandler):
    """A ``dsp/`` handler that answers GET, POST, PATCH and DELETE alike (:meth:`answer`,
    with the path's arguments)."""

    async def answer(self, *args: str, **kwargs: str) -> None:
        raise NotImplementedError

    get = _answering()
    post = _answering()
    patch = _answering()
    delete = _answering()


class UnknownSpaceHandler(EveryVerbHandler):
    """``dsp/api/<anything else>``: 404 in the KFP shape (after authentication)."""

    async def answer(self, *args: str, **kwargs: str) -> None:
        self.send_kfp_error(
            404, "unknown space: use dsp/api/project, dsp/api/shared or dsp/api/local"
        )
