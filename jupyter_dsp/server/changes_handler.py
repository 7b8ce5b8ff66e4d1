"""``GET {base}dsp/changes?watch=K1,K2&since=T1,T2``: the live panel's long poll.

Thin layer over :mod:`jupyter_dsp.server.changes`. Authenticated and authorized like every
``dsp/`` handler (resource ``dsp``, read; a GET, so no XSRF token is needed). Answer (200)::

    {"tokens": {"<key>": "<token>", ...}}

Each token is computed from an upstream GET that goes through the proxy's own allowlist,
namespace pinning and owner checks (:func:`routes.match`, :class:`ProxyExchange`), with the
pod's token upstream and only a hash of the answer kept. Errors are KFP-shaped: 400 for a bad
query (a parameter given twice, an unknown key), 503 when no stack is reachable.
"""

from __future__ import annotations

import asyncio
import hashlib
import json

from jupyter_server.auth.decorator import authorized
from tornado import httputil, web

from jupyter_dsp.connection.model import DSPConnectionError
from jupyter_dsp.server import routes
from jupyter_dsp.server.changes import LONG_POLL_S, ChangeFeed, parse_key, parse_request
from jupyter_dsp.server.errors import ProxyError
from jupyter_dsp.server.handlers import DSPHandler
from jupyter_dsp.server.state import DSPState
from jupyter_dsp.server.upstream_response import ResponseSink
from jupyter_dsp.server.version_specs import SpecStripper

FEED_SETTING = "jupyter_dsp_changes"


class HashSink(ResponseSink):
    """Hashes an upstream answer as it streams (a version's spec left out): nothing kept."""

    def __init__(self, strip_specs: bool) -> None:
        self.code = 0
        self.digest = hashlib.sha256()
        self.stripper = SpecStripper() if strip_specs else None

    async def start(self, code: int, reason: str, headers: httputil.HTTPHeaders) -> None:
        self.code = code

    async def data(self, chunk: bytes) -> None:
        self.digest.update(self.stripper.feed(chunk) if self.stripper else chunk)

    def token(self) -> str:
        if self.stripper is not None:
            self.digest.update(self.stripper.flush())
        if self.code != 200:
            return f"error-{self.code}"
        return self.digest.hexdigest()[:16]


class UpstreamTokens:
    """``key -> token`` against the server's stack, exactly as the proxy would read it."""

    def __init__(self, state: DSPState) -> None:
        self.state = state

    async def __call__(self, key: str) -> str:
        spec = parse_key(key)
        try:
            conn = await self.state.connection()
        except (DSPConnectionError, ValueError, OSError, RuntimeError):
            return "error-503"
        space = conn.space(spec.space)
        if space is None:
            return "off"
        path, query = spec.upstream()
        route = routes.match(
            space.name, space.namespace, space.writable, conn.policy, "GET", path, query
        )
        exchange = self.state.exchange(conn, space, route)
        await exchange.begin()  # owner checks: another namespace's run is a 403 token
        sink = HashSink(route.strip_specs)
        await exchange.respond(sink)
        return sink.token()


def feed_of(settings: dict[str, object], state: DSPState) -> ChangeFeed:
    feed = settings.get(FEED_SETTING)
    if not isinstance(feed, ChangeFeed):
        # no read of the stack outlives the whole-request deadline (nor a long poll)
        timeout = min(LONG_POLL_S, state.settings.total_timeout)
        feed = ChangeFeed(UpstreamTokens(state), fetch_timeout=timeout)
        settings[FEED_SETTING] = feed
    return feed


class ChangesHandler(DSPHandler):
    waiting: asyncio.Task[dict[str, str]] | None = None

    @web.authenticated
    @authorized
    async def get(self) -> None:
        try:
            keys, since = parse_request(self.one("watch"), self.one("since"))
        except ProxyError as exc:
            self.send_kfp_error(exc.status, exc.message)
            return
        feed = feed_of(self.settings, self.dsp)
        self.waiting = asyncio.ensure_future(feed.wait(keys, since))
        try:
            tokens = await self.waiting
        except asyncio.CancelledError:
            return  # the panel went away (hidden, closed): nothing to answer
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"tokens": tokens}))

    def on_connection_close(self) -> None:
        if self.waiting is not None:
            self.waiting.cancel()
        super().on_connection_close()


def changes_handlers() -> list[tuple[str, type[DSPHandler]]]:
    return [(r"dsp/changes", ChangesHandler)]
