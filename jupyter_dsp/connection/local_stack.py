"""The local stack of a cluster workbench: an embedded stack owned by the Jupyter server, for
"run locally" next to the project's cluster stack (which it never touches).

It has its own data dir (``<jupyter data dir>/dsp/local-stack``) and its own announcement file
(``<jupyter runtime dir>/jupyter-dsp-local-stack.json``, mode 0600), so it never mixes with the
embedded stack a laptop runs as its project stack. The server starts it on first use; kernels
find it through the announcement (no import of the server extension).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

from jupyter_core.paths import jupyter_data_dir, jupyter_runtime_dir

from jupyter_dsp.connection.embedded import (
    EmbeddedInfo,
    healthy,
    pid_alive,
    read_runtime_file,
    write_runtime_file,
)

LOCAL_RUNTIME_FILE_NAME = "jupyter-dsp-local-stack.json"
log = logging.getLogger("jupyter_dsp.local")


def local_runtime_file() -> Path:
    return Path(jupyter_runtime_dir()) / LOCAL_RUNTIME_FILE_NAME


def local_data_dir() -> Path:
    return Path(jupyter_data_dir()) / "dsp" / "local-stack"


def find_local_stack(check_health: bool = True) -> EmbeddedInfo | None:
    """The announced local stack when its process (or its owner) is alive and it answers."""
    info = read_runtime_file(local_runtime_file())
    if info is None:
        return None
    if not (pid_alive(info.pid) or pid_alive(info.owner_pid)):
        return None
    if check_health and not healthy(info.url, info.token):
        return None
    return info


class LocalStackManager:
    """Start the local stack on first use (or reuse the announced one); stop it only if owned."""

    def __init__(self, namespace: str = "default", settings: Any = None) -> None:
        self.namespace = namespace
        self.settings = settings  # DSPSettings (step settings); None: loaded when starting
        self._handle: Any = None
        self._info: EmbeddedInfo | None = None
        self._lock = threading.Lock()

    @property
    def owned(self) -> bool:
        return self._handle is not None

    @property
    def info(self) -> EmbeddedInfo | None:
        return self._info

    def ensure(self) -> EmbeddedInfo:
        """Blocking: the running local stack (started when needed). A live process is trusted
        without a health round trip; a dead one is replaced."""
        with self._lock:
            if self._info is not None and pid_alive(self._info.pid or self._info.owner_pid):
                return self._info
            announced = find_local_stack()
            if announced is not None:
                log.info("jupyter-dsp: reusing the local stack at %s", announced.url)
                self._info = announced
                return announced
            self._info = self._start()
            return self._info

    def forget(self) -> None:
        """The stack did not answer: check (and if need be restart) it on next use."""
        self._info = None

    def _start(self) -> EmbeddedInfo:
        from jupyter_dsp.stack import start_stack

        if self._handle is not None:  # ours, but it died: reap it first
            self._handle.stop()
            self._handle = None
        d = local_data_dir()
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        from jupyter_dsp.connection.settings import DSPSettings
        from jupyter_dsp.stack.runner.step_settings import StepSettings

        steps = StepSettings.from_settings(self.settings or DSPSettings.load())
        handle = start_stack(d, default_namespace=self.namespace, steps=steps)
        self._handle = handle
        info = EmbeddedInfo(handle.url, handle.token, handle.pid, os.getpid(), self.namespace)
        write_runtime_file(info, local_runtime_file())
        log.info("jupyter-dsp: started the local stack at %s (data in %s)", handle.url, d)
        return info

    def stop(self) -> None:
        with self._lock:
            handle, self._handle = self._handle, None
            self._info = None
            if handle is None:
                return
            try:
                handle.stop()
            finally:
                announced = read_runtime_file(local_runtime_file())
                if announced and announced.owner_pid == os.getpid():
                    try:
                        local_runtime_file().unlink()
                    except OSError:
                        pass
