"""The ``local`` space, ``dsp/api/local/...``: "run locally" from a cluster workbench.

In a cluster mode the local space is an embedded stack the Jupyter server owns (started on
first use, see :mod:`jupyter_dsp.connection.local_stack`); the project's cluster stack is never
involved. Out of a cluster (mode ``embedded``) the project stack already runs locally, so the
local space is the project stack itself.

The space goes through the same proxy as the project space: same allowlist, the project
namespace pinned on every list and create and checked on every read by id. That is why the
:class:`Space` it returns is *named* ``project``: the proxy's rules for the project space are
exactly the rules wanted here. Its endpoint and token are the local stack's.
"""

from __future__ import annotations

import asyncio
import logging

from jupyter_dsp.connection.local_stack import LocalStackManager
from jupyter_dsp.connection.model import Connection, DSPConnectionError, Space

LOCAL = "local"


def is_cluster(conn: Connection) -> bool:
    """Whether the project stack is remote (anything but the embedded mode)."""
    return conn.mode != "embedded"


class LocalSpace:
    """Owns the local stack for the server; hands the proxy a :class:`Space` for it."""

    def __init__(self, log: logging.Logger | None = None) -> None:
        self.log = log or logging.getLogger("jupyter_dsp")
        self.manager: LocalStackManager | None = None
        self._space: Space | None = None
        self._lock = asyncio.Lock()

    async def space(self, conn: Connection) -> Space:
        """The space to proxy ``dsp/api/local`` to; starts the local stack on first use.
        Raises DSPConnectionError (a 503 for the caller) when it cannot start."""
        if not is_cluster(conn):
            return conn.project
        async with self._lock:
            if self.manager is None:
                self.manager = LocalStackManager(conn.namespace)
            manager = self.manager
            loop = asyncio.get_running_loop()
            try:
                info = await loop.run_in_executor(None, manager.ensure)
            except (OSError, RuntimeError, TimeoutError) as exc:
                self.log.warning("jupyter-dsp: the local stack did not start: %s", exc)
                raise DSPConnectionError(
                    f"the local pipeline stack could not start: {exc}".strip()
                ) from None
            cached = self._space
            if cached is not None and cached.endpoint == info.url:
                return cached
            token = info.token
            self._space = Space(
                name="project",  # the project space's proxy rules (see the module docstring)
                endpoint=info.url,
                namespace=conn.namespace,
                multi_user=True,
                writable=True,
                token_source=f"local stack token of {info.url}",
                _token=lambda: token,
            )
            return self._space

    @property
    def current(self) -> Space | None:
        """The local stack's space if it has been started (for the egress scrubber)."""
        return self._space

    def forget(self) -> None:
        """The local stack did not answer (502): check it again on next use."""
        self._space = None
        if self.manager is not None:
            self.manager.forget()

    async def stop(self) -> None:
        if self.manager is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.manager.stop)
