"""Starting an embedded stack from Python: :func:`start_stack` and :class:`StackHandle`.

By default the stack is a child process (``python -m jupyter_dsp stack serve``); with
``in_process=True`` it runs on a thread with its own event loop. Either way
:func:`start_stack` returns once ``D/stack.json`` exists and healthz answers.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jupyter_dsp.stack.auth import TokenStore
from jupyter_dsp.stack.context import (
    DB_FILE,
    STATE_FILE,
    TOKEN_FILE,
    StackConfig,
    prepare_data_dir,
)
from jupyter_dsp.stack.db import Database
from jupyter_dsp.stack.runner.step_settings import StepSettings

START_TIMEOUT_S = 60.0
LOG_FILE = "stack.log"


class StackHandle:
    """A running embedded stack."""

    def __init__(
        self,
        url: str,
        data_dir: Path,
        *,
        process: subprocess.Popen[bytes] | None = None,
        thread_stop: Callable[[], object] | None = None,
        thread: threading.Thread | None = None,
    ) -> None:
        self.url = url
        self.data_dir = data_dir
        self._process = process
        self._thread_stop = thread_stop
        self._thread = thread
        self._stopped = False

    @property
    def token(self) -> str:
        return (self.data_dir / TOKEN_FILE).read_text().strip()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def create_token(
        self, subject: str, namespaces: dict[str, str] | None = None, shared: str = "none"
    ) -> str:
        db = Database(self.data_dir / DB_FILE)
        try:
            token, _ = TokenStore(db.conn).create(subject, namespaces or {}, shared)
        finally:
            db.close()
        return token

    def stop(self, timeout: float = 10.0) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._process is not None:
            if self._process.poll() is None:
                self._process.send_signal(signal.SIGTERM)
                try:
                    self._process.wait(timeout)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait(timeout)
        elif self._thread_stop is not None and self._thread is not None:
            self._thread_stop()
            self._thread.join(timeout)

    def kill(self) -> None:
        if self._process is None:
            raise RuntimeError("kill() needs a child-process stack (in_process=False)")
        self._stopped = True
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait(10)

    def __enter__(self) -> StackHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"StackHandle(url={self.url!r}, data_dir={str(self.data_dir)!r}, pid={self.pid})"


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/apis/v2beta1/healthz", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _read_state(data_dir: Path) -> dict | None:
    try:
        return json.loads((data_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None


def start_stack(
    data_dir: str | os.PathLike[str],
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    single_user: bool = False,
    default_namespace: str = "default",
    workers: int | None = None,
    in_process: bool = False,
    steps: StepSettings | None = None,
) -> StackHandle:
    """Start an embedded stack on ``data_dir`` and wait until it answers. ``steps``: package
    environments, step cache and container settings (defaults: StepSettings())."""
    directory = prepare_data_dir(Path(data_dir))
    config = StackConfig(
        directory, host, port, single_user, default_namespace, workers, steps or StepSettings()
    )
    if in_process:
        return _start_thread(config)
    return _start_child(config)


def _start_child(config: StackConfig) -> StackHandle:
    command = [
        sys.executable,
        "-m",
        "jupyter_dsp",
        "stack",
        "serve",
        "--data-dir",
        str(config.data_dir),
        "--host",
        config.host,
        "--port",
        str(config.port),
        "--default-namespace",
        config.default_namespace,
    ]
    if config.single_user:
        command.append("--single-user")
    if config.workers:
        command += ["--workers", str(config.workers)]
    command += config.steps.cli_args()
    env = dict(os.environ)
    # the child must import this very jupyter_dsp, installed or not
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    log_fd = os.open(config.data_dir / LOG_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    log = os.fdopen(log_fd, "ab")  # handed to the child
    try:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
    finally:
        log.close()
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = (config.data_dir / LOG_FILE).read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the stack exited with {process.returncode}:\n{tail}")
        state = _read_state(config.data_dir)
        if state and state.get("pid") == process.pid and _healthy(state["url"]):
            return StackHandle(state["url"], config.data_dir, process=process)
        time.sleep(0.05)
    process.kill()
    process.wait(10)
    raise TimeoutError(f"the stack did not answer within {START_TIMEOUT_S} s")


def _start_thread(config: StackConfig) -> StackHandle:
    from jupyter_dsp.stack.server import StackServer

    ready = threading.Event()
    outcome: dict[str, Any] = {}

    async def main() -> None:
        server = StackServer(config)
        stopped = asyncio.Event()
        loop = asyncio.get_running_loop()
        try:
            outcome["url"] = await server.start(write_state_file=True)
        except BaseException as exc:  # reported to the caller below
            outcome["error"] = exc
            ready.set()
            return
        outcome["stop"] = lambda: loop.call_soon_threadsafe(stopped.set)
        ready.set()
        await stopped.wait()
        await server.stop()

    thread = threading.Thread(target=asyncio.run, args=(main(),), name="dsp-stack", daemon=True)
    thread.start()
    if not ready.wait(START_TIMEOUT_S):
        raise TimeoutError("the in-process stack did not start")
    if "error" in outcome:
        raise RuntimeError(f"the in-process stack failed to start: {outcome['error']}")
    return StackHandle(
        str(outcome["url"]), config.data_dir, thread_stop=outcome["stop"], thread=thread
    )
