"""The base tornado handler: bearer auth, KFP error bodies, JSON in and out.

Handlers stay thin: parse the request and ``await self.reply(service_method, ...)``, which
authenticates the caller, runs the service method on a worker thread and writes its result
(handlers/resource.py has the list/get/action shapes that most resources share). Any
:class:`ApiError` raised on the way becomes KFP's error JSON with its status; anything
unexpected becomes a 500 with a generic message (details go to the log).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from tornado import web

from jupyter_dsp.stack.auth import Principal
from jupyter_dsp.stack.bounded_load import TooLarge, check_json_nodes
from jupyter_dsp.stack.context import StackContext
from jupyter_dsp.stack.errors import (
    GRPC_INTERNAL,
    ApiError,
    invalid_argument,
    not_found,
    too_large,
    unauthenticated,
)
from jupyter_dsp.stack.listing import ListParams

log = logging.getLogger("jupyter_dsp.stack")

Schema = dict[str, type | tuple[type, ...]]  # field name -> expected JSON type

INLINE_JSON_BYTES = 64 * 1024  # larger bodies are parsed on a worker thread
MAX_JSON_BODY = 4 * 1024 * 1024  # the JSON endpoints (gRPC-gateway's default message limit)
DISCARD_LIMIT = 1024 * 1024 * 1024  # beyond this the connection is closed

_GRPC_FOR_HTTP = {400: 3, 401: 16, 403: 7, 404: 5, 405: 12, 409: 6, 413: 8, 501: 12}

# route patterns shared by every endpoint module
PREFIX = r"/apis/v2beta1"
ID = r"([^/:]+)"  # one path segment, no action suffix


class ApiHandler(web.RequestHandler):
    """Base of every stack endpoint (the body, if any, is in ``self.request.body``)."""

    upload_error_shape = False  # the multipart upload endpoints answer another error body

    def initialize(self, ctx: StackContext) -> None:
        self.ctx = ctx

    def body(self) -> bytes:
        return self.request.body or b""

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")

    def check_xsrf_cookie(self) -> None:  # bearer tokens, no cookies
        return

    # -- auth ------------------------------------------------------------------------------

    async def principal(self) -> Principal:
        header = self.request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthenticated("Missing bearer token (Authorization: Bearer <token>)")
        who = await self.ctx.call(self.ctx.authenticate, token.strip())
        if who is None:
            raise unauthenticated("Unknown or revoked token")
        return who

    async def reply(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Authenticate the caller, then :meth:`reply_as` it (with arguments from the path:
        those read from the query come after :meth:`principal`, a bad token is a 401 first)."""
        await self.reply_as(await self.principal(), method, *args, **kwargs)

    async def reply_as(
        self, who: Principal, method: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> None:
        """Call the service's ``method(who, *args, **kwargs)`` on a worker thread and answer
        its JSON (``{}`` when it returns nothing, as KFP's empty responses)."""
        result = await self.ctx.call(method, who, *args, **kwargs)
        self.write_json({} if result is None else result)

    # -- input -----------------------------------------------------------------------------

    def query(self, name: str) -> str | None:
        value = self.get_query_argument(name, None)
        return value

    def query_bool(self, name: str) -> bool:
        raw = (self.get_query_argument(name, "") or "").strip().lower()
        if raw in ("", "false", "0"):
            return False
        if raw in ("true", "1"):
            return True
        raise invalid_argument(f"{name} must be true or false, not {raw!r}")

    def list_params(self) -> ListParams:
        return ListParams(
            page_token=self.query("page_token"),
            page_size=self.query("page_size"),
            sort_by=self.query("sort_by"),
            filter=self.query("filter"),
        )

    async def json_body(self, schema: Schema) -> dict[str, Any]:
        """The JSON object body, checked against ``schema`` (large ones parsed off the loop)."""
        raw = self.body()
        if not raw:
            return {}
        if len(raw) > INLINE_JSON_BYTES:
            return await self.ctx.call(parse_json_object, raw, schema)
        return parse_json_object(raw, schema)

    # -- output ----------------------------------------------------------------------------

    def write_json(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(data, separators=(",", ":")))

    def write_api_error(self, error: ApiError) -> None:
        self.clear()
        self.set_default_headers()
        self.set_status(error.http_status)
        body = error.to_upload_error() if self.upload_error_shape else error.to_status()
        self.finish(json.dumps(body))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, ApiError):
            self.write_api_error(exc)
            return
        if isinstance(exc, web.HTTPError) or exc is None:
            # tornado's own refusals (405, malformed requests): its reason phrase, KFP-shaped
            code = _GRPC_FOR_HTTP.get(status_code, 2)
            self.write_api_error(ApiError(code, self._reason, http_status=status_code))
            return
        self.write_api_error(ApiError(GRPC_INTERNAL, "Internal error in the embedded stack"))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, ApiError):
            log.info(
                "%s %s -> %s %s",
                self.request.method,
                self.request.path,
                value.http_status,
                value.message,
            )
            return
        super().log_exception(typ, value, tb)


def check_fields(body: dict[str, Any], schema: Schema, where: str) -> None:
    """Unknown fields and wrongly typed ones are a 400, as with protojson."""
    unknown = sorted(set(body) - set(schema))
    if unknown:
        raise invalid_argument(f"Unknown field {unknown[0]!r} in the {where}")
    for name, value in body.items():
        expected = schema[name]
        if value is not None and (
            not isinstance(value, expected) or (isinstance(value, bool) and expected is not bool)
        ):
            raise invalid_argument(f"Field {name!r} in the {where} has the wrong type")


def parse_json_object(raw: bytes, schema: Schema) -> dict[str, Any]:
    try:
        check_json_nodes(raw)  # before parsing: what it would build is bounded
    except TooLarge as exc:
        raise too_large(f"The request body is too large: {exc}") from None
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid_argument(f"The request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise invalid_argument("The request body is nested too deeply") from None
    if not isinstance(body, dict):
        raise invalid_argument("The request body must be a JSON object")
    check_fields(body, schema, "request body")
    return body


@web.stream_request_body
class StreamedBodyHandler(ApiHandler):
    """An endpoint whose body is streamed in and limited to ``body_limit`` bytes.

    Up to the limit the body is kept, the rest is read and thrown away, so that an oversize
    request gets a KFP-shaped 413 instead of a connection that tornado closes without an
    answer. Read it with :meth:`body` (``self.request.body`` stays empty when streaming).
    """

    body_limit = MAX_JSON_BODY

    def initialize(self, ctx: StackContext) -> None:
        super().initialize(ctx)
        self._chunks: list[bytes] = []
        self._size = 0

    def prepare(self) -> None:
        connection = self.request.connection
        if connection is not None and hasattr(connection, "set_max_body_size"):
            connection.set_max_body_size(DISCARD_LIMIT)

    def data_received(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size <= self.body_limit:
            self._chunks.append(chunk)
        else:
            self._chunks = []

    def body(self) -> bytes:
        if self._size > self.body_limit:
            raise too_large(
                f"Request body too large ({self._size} bytes). Maximum supported size:"
                f" {self.body_limit}"
            )
        if len(self._chunks) != 1:
            self._chunks = [b"".join(self._chunks)]
        return self._chunks[0]


class NotFoundHandler(ApiHandler):
    """Unknown paths: a KFP 404, not tornado's HTML page."""

    def prepare(self) -> None:
        raise not_found(f"Not Found: {self.request.method} {self.request.path}")
