"""The local stack of a cluster workbench: an embedded stack owned by the Jupyter server, for
"run locally" next to the project's cluster stack (which it never touches).

It has its own data dir (``<jupyter data dir>/dsp/local-stack``) and its own announcement file
(``<jupyter runtime dir>/jupyter-dsp-local-stack.json``, mode 0600), so it never mixes with the
embedded stack a laptop runs as its project stack. The server starts it on first use; kernels
find it through the announcement (no import of the server extension).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from jupyter_core.paths import jupyter_data_dir, jupyter_runtime_dir

from jupyter_dsp.connection.embedded import (
    EmbeddedInfo,
    StackStarter,
    healthy,
    pid_alive,
    read_runtime_file,
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


class LocalStackManager(StackStarter):
    """Start the local stack on first use (or reuse the announced one); stop it only if owned.
    A live process is trusted without a health round trip; a dead one is replaced."""

    what = "local stack"

    def __init__(self, namespace: str = "default", settings: Any = None) -> None:
        super().__init__(namespace, settings)

    def _still_up(self, info: EmbeddedInfo) -> bool:
        return pid_alive(info.pid or info.owner_pid)

    def _reuse(self) -> EmbeddedInfo | None:
        announced = find_local_stack()
        if announced is not None:
            log.info("jupyter-dsp: reusing the local stack at %s", announced.url)
        return announced

    def _data_dir(self, settings: Any) -> Path:
        return local_data_dir()

    def _runtime_file(self) -> Path:
        return local_runtime_file()
