"""Running the stack: bind, write ``D/stack.json``, serve until stopped.

:class:`StackServer` works on whatever asyncio loop it is started on; :func:`serve` is the
blocking entry point of ``jupyter-dsp stack serve`` (SIGTERM / SIGINT stop it cleanly).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import time
from pathlib import Path

from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from jupyter_dsp.stack.app import MAX_BODY, make_app
from jupyter_dsp.stack.context import STATE_FILE, StackConfig, StackContext

log = logging.getLogger("jupyter_dsp.stack")


def url_for(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def write_state(data_dir: Path, url: str) -> None:
    """Write ``stack.json`` atomically (no token in it, ever)."""
    state = {"url": url, "pid": os.getpid(), "started_at": time.time()}
    tmp = data_dir / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(state))
    os.replace(tmp, data_dir / STATE_FILE)


def remove_state(data_dir: Path) -> None:
    path = data_dir / STATE_FILE
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


class StackServer:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.ctx: StackContext | None = None
        self.http: HTTPServer | None = None
        self.url = ""

    async def start(self, write_state_file: bool = True) -> str:
        self.ctx = StackContext(self.config)
        app = make_app(self.ctx)
        self.http = HTTPServer(app, max_body_size=MAX_BODY)
        sockets = bind_sockets(self.config.port, self.config.host)
        self.http.add_sockets(sockets)
        port = sockets[0].getsockname()[1]
        self.url = url_for(self.config.host, port)
        if write_state_file:
            write_state(self.ctx.data_dir, self.url)
        return self.url

    async def stop(self) -> None:
        if self.http is not None:
            self.http.stop()
            await asyncio.wait_for(self.http.close_all_connections(), timeout=5)
            self.http = None
        if self.ctx is not None:
            remove_state(self.ctx.data_dir)
            self.ctx.close()
            self.ctx = None


def serve(config: StackConfig) -> None:
    """Serve until SIGTERM or SIGINT."""

    async def main() -> None:
        server = StackServer(config)
        url = await server.start()
        print(url, flush=True)
        stopped = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopped.set)
        await stopped.wait()
        try:
            await server.stop()
        except asyncio.TimeoutError:
            log.warning("connections did not close in time")

    asyncio.run(main())
