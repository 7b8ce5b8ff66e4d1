"""A small HTTP/1.1 client for the proxy: keep-alive connection pool, streaming both ways.

tornado's ``SimpleAsyncHTTPClient`` opens a new connection per request; this keeps idle
connections per (scheme, host, port, TLS context) and reuses them. Requests without a body,
or with a small buffered one, are retried once on a fresh connection when a pooled one turns
out to be closed before any response byte arrived. Streamed uploads use a fresh connection.
Reading the answer is upstream_response.py's.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from tornado import httputil
from tornado.http1connection import HTTP1Connection, HTTP1ConnectionParameters
from tornado.iostream import IOStream, StreamClosedError
from tornado.tcpclient import TCPClient

from jupyter_dsp.server.upstream_response import (
    ResponseSink,
    StaleConnection,
    UpstreamError,
    read_response,
)

CHUNK = 64 * 1024
IDEMPOTENT = frozenset({"GET", "HEAD", "DELETE", "PUT", "OPTIONS"})
# a pooled connection used this recently is trusted with a request that must not be retried
FRESH_ENOUGH_S = 2.0
# request headers a caller may pass on; everything else (Authorization, Cookie, X-XSRFToken,
# kubeflow-userid, hop-by-hop, X-Forwarded-*) is dropped
# (Content-Length is set by the proxy from the body it actually sends)
FORWARD_REQUEST_HEADERS = ("Content-Type", "Accept", "Accept-Language")


def upstream_headers(incoming: httputil.HTTPHeaders, token: str | None) -> httputil.HTTPHeaders:
    """The caller's headers that may go upstream, with the space's own token."""
    out = httputil.HTTPHeaders()
    for name in FORWARD_REQUEST_HEADERS:
        value = incoming.get(name)
        if value is not None:
            out[name] = value
    if token:
        out["Authorization"] = f"Bearer {token}"
    return out


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    prefix: str  # path prefix of the endpoint, "" or "/something"
    ssl_ctx: ssl.SSLContext | None

    @classmethod
    def from_endpoint(cls, endpoint: str, ssl_ctx: ssl.SSLContext | None) -> Target:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) endpoint: {endpoint!r}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return cls(parts.scheme, parts.hostname, port, parts.path.rstrip("/"), ssl_ctx)

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"

    def key(self) -> tuple[str, str, int, int]:
        return (self.scheme, self.host, self.port, id(self.ssl_ctx))


class UpstreamRequest:
    """An open request whose body is written piece by piece (streamed uploads)."""

    def __init__(self, pool: UpstreamPool, target: Target, stream: IOStream) -> None:
        self.pool = pool
        self.target = target
        self.stream = stream
        self.conn = HTTP1Connection(stream, True, pool.new_params())
        self.write_failed = False

    async def write(self, chunk: bytes) -> None:
        if self.write_failed:
            return  # keep draining the caller; the response (or 502) comes at the end
        try:
            await self.conn.write(chunk)
        except StreamClosedError:
            self.write_failed = True

    async def finish_and_read(self, sink: ResponseSink, header_timeout: float) -> None:
        if not self.write_failed:
            try:
                self.conn.finish()
            except (StreamClosedError, httputil.HTTPOutputError):
                self.write_failed = True
        await self.pool._read(self.conn, self.stream, self.target, sink, header_timeout, False)


class UpstreamPool:
    def __init__(
        self,
        *,
        connect_timeout: float = 10.0,
        max_idle_per_target: int = 16,
        idle_ttl: float = 20.0,
        idle_timeout: float = 60.0,
    ) -> None:
        self.connect_timeout = connect_timeout
        self.idle_timeout = idle_timeout  # a started answer may not stall longer than this
        self.max_idle = max_idle_per_target
        self.idle_ttl = idle_ttl
        self._idle: dict[tuple[str, str, int, int], list[tuple[float, IOStream]]] = {}
        self._tcp = TCPClient()
        self.opened = 0  # connections opened (for tests and the benchmark)

    @staticmethod
    def new_params() -> HTTP1ConnectionParameters:
        return HTTP1ConnectionParameters(
            no_keep_alive=False, chunk_size=CHUNK, max_body_size=1 << 40, decompress=False
        )

    # ---- connections -------------------------------------------------------------
    async def _connect(self, target: Target) -> IOStream:
        try:
            stream = await asyncio.wait_for(
                self._tcp.connect(
                    target.host,
                    target.port,
                    ssl_options=target.ssl_ctx,
                    max_buffer_size=4 * CHUNK,
                ),
                timeout=self.connect_timeout,
            )
        except asyncio.TimeoutError:
            raise UpstreamError(
                504, f"connecting to {target.host_header} timed out after {self.connect_timeout}s"
            ) from None
        except ssl.SSLError as exc:
            raise UpstreamError(502, exc.reason or str(exc), tls=True) from None
        except (OSError, StreamClosedError) as exc:
            cause = exc.real_error if isinstance(exc, StreamClosedError) else exc
            if isinstance(cause, ssl.SSLError):
                raise UpstreamError(502, cause.reason or str(cause), tls=True) from None
            raise UpstreamError(
                502, f"cannot reach {target.host_header}: {cause or 'connection closed'}"
            ) from None
        stream.set_nodelay(True)
        self.opened += 1
        return stream

    def _take_idle(self, target: Target, max_idle: float | None = None) -> IOStream | None:
        idle = self._idle.get(target.key())
        now = time.monotonic()
        while idle:
            since, stream = idle[-1]
            if max_idle is not None and now - since >= max_idle:
                return None  # leave it for an idempotent request
            idle.pop()
            if not stream.closed() and now - since < self.idle_ttl:
                return stream
            stream.close()
        return None

    def _release(self, target: Target, stream: IOStream) -> None:
        if stream.closed():
            return
        idle = self._idle.setdefault(target.key(), [])
        if len(idle) >= self.max_idle:
            stream.close()
            return
        idle.append((time.monotonic(), stream))

    def close(self) -> None:
        for idle in self._idle.values():
            for _, stream in idle:
                stream.close()
        self._idle.clear()
        self._tcp.close()

    # ---- requests ----------------------------------------------------------------
    def _start_line(self, target: Target, method: str, path: str) -> httputil.RequestStartLine:
        return httputil.RequestStartLine(method, target.prefix + path, "HTTP/1.1")

    def _headers(self, target: Target, headers: httputil.HTTPHeaders) -> httputil.HTTPHeaders:
        out = httputil.HTTPHeaders()
        for k, v in headers.get_all():
            out.add(k, v)
        out["Host"] = target.host_header
        return out

    async def fetch(
        self,
        target: Target,
        method: str,
        path: str,
        headers: httputil.HTTPHeaders,
        body: bytes | None,
        sink: ResponseSink,
        header_timeout: float,
    ) -> None:
        """A request with no body or a buffered one.

        Idempotent requests (GET, DELETE) are retried once on a fresh connection when a pooled
        one turns out to be closed. Others are never sent twice: they take a pooled connection
        only if it was used moments ago, else a fresh one."""
        hdrs = self._headers(target, headers)
        if body is not None:
            hdrs["Content-Length"] = str(len(body))
        elif method in ("POST", "PUT", "PATCH"):
            hdrs["Content-Length"] = "0"
        idempotent = method in IDEMPOTENT
        for attempt in (0, 1):
            stream = None
            if attempt == 0:
                stream = self._take_idle(target, None if idempotent else FRESH_ENOUGH_S)
            pooled = stream is not None
            reused = pooled and idempotent  # may be retried after it was sent
            if stream is None:
                stream = await self._connect(target)
            conn = HTTP1Connection(stream, True, self.new_params())
            try:
                await conn.write_headers(self._start_line(target, method, path), hdrs)
                if body:
                    await conn.write(body)
                conn.finish()
            except (StreamClosedError, httputil.HTTPOutputError):
                stream.close()
                if pooled:  # not (completely) sent: safe to send again on a fresh one
                    continue
                raise UpstreamError(502, f"{target.host_header} closed the connection") from None
            try:
                await self._read(conn, stream, target, sink, header_timeout, reused)
                return
            except StaleConnection:
                continue
        raise UpstreamError(502, f"{target.host_header} closed the connection")

    async def open(
        self, target: Target, method: str, path: str, headers: httputil.HTTPHeaders
    ) -> UpstreamRequest:
        """Start a request whose body follows in pieces (a fresh connection)."""
        stream = await self._connect(target)
        req = UpstreamRequest(self, target, stream)
        hdrs = self._headers(target, headers)
        try:
            await req.conn.write_headers(self._start_line(target, method, path), hdrs)
        except StreamClosedError:
            req.write_failed = True
        return req

    async def _read(
        self,
        conn: HTTP1Connection,
        stream: IOStream,
        target: Target,
        sink: ResponseSink,
        header_timeout: float,
        reused: bool,
    ) -> None:
        host, idle = target.host_header, self.idle_timeout
        if await read_response(conn, stream, host, sink, header_timeout, idle, reused):
            self._release(target, stream)
