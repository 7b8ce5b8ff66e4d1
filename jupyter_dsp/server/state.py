"""The server extension's state: settings, the resolved connection (resolved lazily, off
the event loop), the embedded stack it may own, and the upstream connection pool."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from tornado.httputil import HTTPHeaders

from jupyter_dsp.connection import DSPSettings, resolve, wants_embedded
from jupyter_dsp.connection.embedded import EmbeddedStackManager
from jupyter_dsp.connection.model import Connection, DSPConnectionError, Space
from jupyter_dsp.server.local_space import LocalSpace
from jupyter_dsp.server.ownership import OwnerCache
from jupyter_dsp.server.proxy import ProxyExchange
from jupyter_dsp.server.routes import Route
from jupyter_dsp.server.upstream import Target, UpstreamPool, upstream_headers
from jupyter_dsp.server.upstream_response import ResponseSink

RETRY_AFTER_FAILURE_S = 5.0
KEEP_TOKENS = 8  # tokens seen (rotations) that stay hidden from answers


class DSPState:
    def __init__(
        self,
        settings: DSPSettings,
        log: logging.Logger | None = None,
        *,
        load_error: str | None = None,
    ) -> None:
        self.settings = settings
        self.load_error = load_error
        self.log = log or logging.getLogger("jupyter_dsp")
        self.pool = UpstreamPool(
            connect_timeout=settings.connect_timeout, idle_timeout=settings.idle_timeout
        )
        self.owners = OwnerCache()
        self.local = LocalSpace(self.log)  # dsp/api/local: run locally (server/local_space.py)
        self.embedded: EmbeddedStackManager | None = None
        if wants_embedded(settings) and load_error is None:
            self.embedded = EmbeddedStackManager(
                settings, namespace=settings.namespace or "default"
            )
        self._conn: Connection | None = None
        self._error: Exception | None = None
        self._error_at = 0.0
        self._lock = asyncio.Lock()
        self._targets: dict[tuple[str, str], Target] = {}
        self._kube: Any = None
        self._seen_tokens: list[str] = []

    def tokens(self) -> list[str]:
        """Every token this server holds or has sent lately (the project, shared, managed and
        local spaces'; a few before rotation): the egress scrubber hides them all."""
        conn = self._conn
        spaces = [conn.project, conn.shared, conn.managed] if conn is not None else []
        spaces.append(self.local.current)
        for space in spaces:
            if space is None:
                continue
            try:
                token = space.token()
            except Exception:  # noqa: BLE001 - a token file that cannot be read: none sent
                continue
            if token and token not in self._seen_tokens:
                self._seen_tokens.append(token)
                del self._seen_tokens[:-KEEP_TOKENS]
        return list(self._seen_tokens)

    async def connection(self) -> Connection:
        """The resolved connection; raises DSPConnectionError (or ValueError for bad
        settings) with a message for the user."""
        if self._conn is not None:
            return self._conn
        if self.load_error:
            raise DSPConnectionError(f"invalid jupyter-dsp settings: {self.load_error}")
        async with self._lock:
            if self._conn is not None:
                return self._conn
            if self._error and time.monotonic() - self._error_at < RETRY_AFTER_FAILURE_S:
                raise self._error
            loop = asyncio.get_running_loop()
            try:
                if self.embedded is not None:
                    await loop.run_in_executor(None, self.embedded.ensure)
                conn = await loop.run_in_executor(None, resolve, self.settings)
            except (DSPConnectionError, ValueError, OSError, RuntimeError) as exc:
                self._error, self._error_at = exc, time.monotonic()
                self.log.warning("jupyter-dsp: %s", exc)
                raise
            self._error = None
            self._conn = conn
            self.log.info(
                "jupyter-dsp: %s mode, namespace %s, project stack %s, shared %s",
                conn.mode,
                conn.namespace,
                conn.project.endpoint_host,
                conn.shared.endpoint_host if conn.shared else "none",
            )
            return conn

    def invalidate(self) -> None:
        """Forget the connection (e.g. the embedded stack went away); resolve again next time."""
        self._conn = None
        self._targets.clear()

    def target(self, space: Space) -> Target:
        key = (space.name, space.endpoint)
        target = self._targets.get(key)
        if target is None:
            target = Target.from_endpoint(space.endpoint, space.ssl_context())
            self._targets[key] = target
        return target

    def exchange(
        self,
        conn: Connection,
        space: Space,
        route: Route,
        method: str = "GET",
        incoming: HTTPHeaders | None = None,
    ) -> ProxyExchange:
        """A request through the proxy to ``space``'s stack (server/proxy.py), with this
        server's pool, request timeout and owner cache."""
        return ProxyExchange(
            self.pool,
            self.target(space),
            conn,
            space,
            route,
            self.settings.request_timeout,
            self.owners,
            method=method,
            incoming=incoming if incoming is not None else HTTPHeaders(),
        )

    async def get_from(
        self, space: Space, path: str, sink: ResponseSink, headers: dict[str, str] | None = None
    ) -> None:
        """GET ``path`` from ``space``'s stack with the space's token into ``sink``; an
        unreachable or too slow stack raises :class:`UpstreamError` (502/504)."""
        hdrs = upstream_headers(HTTPHeaders(), space.token())
        for name, value in (headers or {}).items():
            hdrs[name] = value
        await self.pool.fetch(
            self.target(space), "GET", path, hdrs, None, sink, self.settings.request_timeout
        )

    def kube(self) -> Any:
        """The Kubernetes API client (cluster modes), created on first use."""
        if self._kube is None:
            import os

            from jupyter_dsp.connection.kube import KubeClient, kube_api_url

            url = kube_api_url(self.settings.kube_api_url, os.environ)
            if not url:
                raise DSPConnectionError(
                    "the Kubernetes API is not known (KUBERNETES_SERVICE_HOST unset and no "
                    "DSPSettings.kube_api_url)"
                )
            self._kube = KubeClient(url, self.settings.sa_dir, self.settings.connect_timeout)
        return self._kube

    async def stop(self) -> None:
        self.pool.close()
        await self.local.stop()
        if self._kube is not None:
            self._kube.close()
        if self.embedded is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.embedded.stop)
