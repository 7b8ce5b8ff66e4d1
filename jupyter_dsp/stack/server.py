"""Running the stack: bind, write ``D/stack.json``, serve until stopped.

:class:`StackServer` works on whatever asyncio loop it is started on; :func:`serve` is the
blocking entry point of ``jupyter-dsp stack serve`` (SIGTERM / SIGINT stop it cleanly).
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import signal
import time
from pathlib import Path

from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from jupyter_dsp.stack.app import MAX_BODY, make_app
from jupyter_dsp.stack.context import STATE_FILE, StackConfig, StackContext, prepare_data_dir
from jupyter_dsp.stack.runner.sandbox import check_sandbox

log = logging.getLogger("jupyter_dsp.stack")

LOCK_FILE = "stack.lock"


class StackBusy(RuntimeError):
    """Another stack already serves this data dir."""


class DataDirLock:
    """An exclusive lock on ``D/stack.lock`` while a stack serves D (freed even by kill -9)."""

    def __init__(self) -> None:
        self._fd: int | None = None

    def acquire(self, data_dir: Path) -> None:
        fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            holder = ""
            try:
                state = json.loads((data_dir / STATE_FILE).read_text())
                holder = f" (pid {state.get('pid')}, {state.get('url')})"
            except (OSError, ValueError):
                pass
            raise StackBusy(f"another stack already serves {data_dir}{holder}") from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def url_for(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def write_state(data_dir: Path, url: str) -> None:
    """Write ``stack.json`` atomically (no token in it, ever)."""
    state = {"url": url, "pid": os.getpid(), "started_at": time.time()}
    tmp = data_dir / (STATE_FILE + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(json.dumps(state))
    os.replace(tmp, data_dir / STATE_FILE)


def remove_state(data_dir: Path) -> None:
    path = data_dir / STATE_FILE
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def check_step_sandbox(config: StackConfig) -> None:
    """A multi-user stack run as root starts only where its steps can be sandboxed
    (SECURITY.md); raises :class:`SandboxUnavailable` naming what to install or enable."""
    if config.multi_user and os.geteuid() == 0:
        check_sandbox(config.steps.bwrap)


class StackServer:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.ctx: StackContext | None = None
        self.http: HTTPServer | None = None
        self.url = ""
        self.lock = DataDirLock()

    async def start(self, write_state_file: bool = True) -> str:
        data_dir = prepare_data_dir(self.config.data_dir)
        check_step_sandbox(self.config)
        self.lock.acquire(data_dir)
        try:
            self.ctx = StackContext(self.config)
            self.http = HTTPServer(make_app(self.ctx), max_body_size=MAX_BODY)
            sockets = bind_sockets(self.config.port, self.config.host)
            self.http.add_sockets(sockets)
        except BaseException:
            await self.stop()
            raise
        port = sockets[0].getsockname()[1]
        self.url = url_for(self.config.host, port)
        if write_state_file:
            write_state(self.ctx.data_dir, self.url)
        return self.url

    async def stop(self) -> None:
        try:
            if self.http is not None:
                http, self.http = self.http, None
                http.stop()
                await asyncio.wait_for(http.close_all_connections(), timeout=5)
        finally:
            if self.ctx is not None:
                ctx, self.ctx = self.ctx, None
                remove_state(ctx.data_dir)
                ctx.close()
            self.lock.release()


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
