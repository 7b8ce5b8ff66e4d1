"""Reading one upstream HTTP/1.1 response into a sink: the sinks, the message delegate, the
header timeout and the idle watch, and the errors the proxy turns into its own 502/504.

The connection pool that sends the requests is in upstream.py."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from tornado import httputil
from tornado.http1connection import HTTP1Connection
from tornado.iostream import IOStream, StreamClosedError


class UpstreamError(Exception):
    """The upstream could not be reached (502) or was too slow (504)."""

    def __init__(self, status: int, message: str, *, tls: bool = False) -> None:
        self.status = status
        self.tls = tls
        super().__init__(message)


class StaleConnection(Exception):
    """A pooled connection closed before any byte of the answer: safe to send again."""


class ResponseSink:
    """Receives the upstream response. Subclasses forward it (proxy) or buffer it."""

    async def start(self, code: int, reason: str, headers: httputil.HTTPHeaders) -> None:
        raise NotImplementedError

    async def data(self, chunk: bytes) -> None:
        raise NotImplementedError

    async def end(self) -> None:
        return None


class BufferSink(ResponseSink):
    def __init__(self, limit: int = 4 * 1024 * 1024) -> None:
        self.code = 0
        self.headers = httputil.HTTPHeaders()
        self.parts: list[bytes] = []
        self.size = 0
        self.limit = limit

    async def start(self, code: int, reason: str, headers: httputil.HTTPHeaders) -> None:
        self.code, self.headers = code, headers

    async def data(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            raise UpstreamError(502, "upstream response too large")
        self.parts.append(chunk)

    @property
    def body(self) -> bytes:
        return b"".join(self.parts)


SinkFactory = Callable[[], ResponseSink]


class _Delegate(httputil.HTTPMessageDelegate):
    def __init__(self, sink: ResponseSink) -> None:
        self.sink = sink
        self.headers_seen = asyncio.get_running_loop().create_future()
        self.keep_alive = False
        self.error: BaseException | None = None
        self.last_data = time.monotonic()
        self.idle_cut = False

    async def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> None:
        assert isinstance(start_line, httputil.ResponseStartLine)
        if start_line.code < 200:  # 1xx: wait for the real response
            return
        conn = headers.get("Connection", "").lower()
        self.keep_alive = (
            start_line.version == "HTTP/1.1"
            and conn != "close"
            and (
                "Content-Length" in headers
                or "chunked" in headers.get("Transfer-Encoding", "").lower()
                or start_line.code in (204, 304)
            )
        )
        if not self.headers_seen.done():
            self.headers_seen.set_result(None)
        try:
            await self.sink.start(start_line.code, start_line.reason, headers)
        except BaseException as exc:
            self.error = exc
            raise

    async def data_received(self, chunk: bytes) -> None:
        self.last_data = time.monotonic()
        try:
            await self.sink.data(chunk)
        except BaseException as exc:
            self.error = exc
            raise

    def finish(self) -> None:
        pass

    def on_connection_close(self) -> None:
        if not self.headers_seen.done():
            self.headers_seen.set_exception(StreamClosedError())


async def read_response(
    conn: HTTP1Connection,
    stream: IOStream,
    host: str,
    sink: ResponseSink,
    header_timeout: float,
    idle_timeout: float,
    reused: bool,
) -> bool:
    """Read the answer on ``conn`` into ``sink``; True when ``stream`` may be reused (the
    caller pools it), else it is closed. A ``reused`` connection closed before answering
    raises :class:`StaleConnection`; other failures :class:`UpstreamError`."""
    delegate = _Delegate(sink)
    # the header timeout is enforced by HTTP1Connection itself: on expiry it closes the
    # stream and returns False before any header reached the delegate
    conn.params.header_timeout = header_timeout
    started = time.monotonic()
    watch = asyncio.ensure_future(_watch_idle(delegate, stream, idle_timeout))
    try:
        open_after = await conn.read_response(delegate)
    except asyncio.CancelledError:  # the caller's deadline: this connection is done
        stream.close()
        raise
    except StreamClosedError:
        open_after = False
        stream.close()
        if delegate.idle_cut:
            raise UpstreamError(504, f"{host} stopped sending for {idle_timeout:g}s") from None
        if delegate.error is None and delegate.headers_seen.done():
            raise UpstreamError(502, f"{host} closed the connection mid-response") from None
    finally:
        watch.cancel()
    seen = delegate.headers_seen
    if not seen.done() or seen.exception() is not None:
        if seen.done():
            seen.exception()  # retrieved: no "never retrieved" warning
        stream.close()
        if time.monotonic() - started >= header_timeout * 0.98:
            raise UpstreamError(504, f"{host} did not answer within {header_timeout:g}s")
        if reused:
            raise StaleConnection()
        raise UpstreamError(502, f"{host} closed the connection without answering")
    if delegate.error is not None:
        stream.close()
        raise delegate.error
    await sink.end()
    if open_after and delegate.keep_alive and not stream.closed():
        return True
    stream.close()
    return False


async def _watch_idle(delegate: _Delegate, stream: IOStream, idle_timeout: float) -> None:
    """Once the answer has started, cut it when no byte came for ``idle_timeout``."""
    try:
        await asyncio.shield(delegate.headers_seen)
    except Exception:  # noqa: BLE001 - closed before answering: read_response reports it
        return
    while not stream.closed():
        left = delegate.last_data + idle_timeout - time.monotonic()
        if left <= 0:
            delegate.idle_cut = True
            stream.close()
            return
        await asyncio.sleep(min(left, 1.0))
