"""Loopback stand-ins in front of (or instead of) a stack, for the proxy's leak tests.

- ``GoQueryFront``: forwards every request to a real stack, but first reduces each repeated
  query parameter to its FIRST value, as KFP's Go API server reads them
  (``r.URL.Query().Get``); tornado (and so the embedded stack) would read the last.
- ``EchoUpstream``: answers like a gateway that echoes the caller's bearer token (whole or a
  JWT part) in bodies and headers, to check the proxy scrubs every copy.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode

import tornado.httpclient
import tornado.httpserver
import tornado.netutil
import tornado.web


class _Threaded:
    url = ""

    def _app(self) -> tornado.web.Application:
        raise NotImplementedError

    def start(self) -> _Threaded:
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1", family=socket.AF_INET)
        self.url = f"http://127.0.0.1:{sockets[0].getsockname()[1]}"
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            server = tornado.httpserver.HTTPServer(self._app(), max_body_size=64 << 20)
            server.add_sockets(sockets)
            loop.call_soon(ready.set)
            loop.run_forever()
            server.stop()
            loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


class _Forward(tornado.web.RequestHandler):
    def initialize(self, front: GoQueryFront) -> None:
        self.front = front

    async def _any(self, path: str) -> None:
        if path.endswith(self.front.missing):  # a route the real KFP API server does not have
            self.set_status(404)
            self.finish({"code": 5, "message": "Not Found", "details": []})
            return
        first: dict[str, str] = {}
        for key, value in parse_qsl(self.request.query, keep_blank_values=True):
            first.setdefault(key, value)  # Go: the first value wins
        self.front.seen.append(self.request.uri or "")
        target = self.front.upstream + "/" + path + ("?" + urlencode(first) if first else "")
        headers = {
            k: v
            for k, v in self.request.headers.get_all()
            if k.lower() in ("authorization", "content-type", "accept")
        }
        body = self.request.body if self.request.method in ("POST", "PATCH", "PUT") else None
        client = tornado.httpclient.AsyncHTTPClient()
        response = await client.fetch(
            target,
            method=self.request.method,
            headers=headers,
            body=body,
            raise_error=False,
            allow_nonstandard_methods=True,
        )
        self.set_status(response.code)
        self.set_header("Content-Type", response.headers.get("Content-Type", "application/json"))
        for name in ("X-Log-Next-Offset", "X-Log-Complete", "X-Log-Size"):
            if name in response.headers:
                self.set_header(name, response.headers[name])
        body = response.body or b""
        if self.front.rewrite is not None and response.code == 200:
            body = self.front.rewrite(path, body)
        self.finish(body)

    get = post = patch = delete = _any


class GoQueryFront(_Threaded):
    """``rewrite(path, body) -> body`` may change 200 answers (e.g. add what a real cluster's
    API server says and the embedded stack does not, such as task pod names)."""

    def __init__(self, upstream: str, rewrite: Callable[[str, bytes], bytes] | None = None) -> None:
        self.upstream = upstream.rstrip("/")
        self.rewrite = rewrite
        self.missing: tuple[str, ...] = ("/no-such-route",)  # path endings answered 404
        self.seen: list[str] = []

    def _app(self) -> tornado.web.Application:
        return tornado.web.Application([(r"/(.*)", _Forward, {"front": self})])


class _Echo(tornado.web.RequestHandler):
    def initialize(self, up: EchoUpstream) -> None:
        self.up = up

    def get(self, path: str) -> None:
        bearer = (self.request.headers.get("Authorization") or "").removeprefix("Bearer ")
        self.up.seen.append(self.request.uri or "")
        status, headers, body = self.up.answer(path, bearer)
        self.set_status(status)
        for key, value in headers.items():
            self.set_header(key, value)
        self.finish(body)


class EchoUpstream(_Threaded):
    """``answer(path, bearer) -> (status, headers, body)`` decides each reply."""

    def __init__(self, answer: Callable[[str, str], tuple[int, dict[str, str], bytes]]) -> None:
        self.answer = answer
        self.seen: list[str] = []

    def _app(self) -> tornado.web.Application:
        return tornado.web.Application([(r"/(.*)", _Echo, {"up": self})])
