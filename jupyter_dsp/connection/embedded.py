"""The embedded stack out of a cluster: started and owned by the Jupyter server, announced
to kernels through a 0600 file in Jupyter's runtime directory."""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from jupyter_core.paths import jupyter_data_dir, jupyter_runtime_dir

from jupyter_dsp.connection.settings import DSPSettings

RUNTIME_FILE_NAME = "jupyter-dsp-stack.json"
# written by a Jupyter server while it starts the embedded stack: kernels wait instead of failing
STARTING_FILE_NAME = "jupyter-dsp-stack.starting.json"
log = logging.getLogger("jupyter_dsp.embedded")


def runtime_file() -> Path:
    return Path(jupyter_runtime_dir()) / RUNTIME_FILE_NAME


def starting_file() -> Path:
    return Path(jupyter_runtime_dir()) / STARTING_FILE_NAME


def announce_starting(stack_dir: Path) -> None:
    """Say that this process is starting the stack serving ``stack_dir``."""
    path = starting_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps({"owner_pid": os.getpid(), "data_dir": str(stack_dir)}))
    os.replace(tmp, path)


def clear_starting() -> None:
    try:
        data = json.loads(starting_file().read_text(encoding="utf-8"))
        if data.get("owner_pid") == os.getpid():
            starting_file().unlink()
    except (OSError, ValueError, AttributeError):
        pass


def wait_for_starting_stack(stack_dir: Path, timeout: float) -> EmbeddedInfo | None:
    """If a live Jupyter server is starting the stack of ``stack_dir``, wait (up to
    ``timeout`` seconds) for its announcement; None when nobody is starting one."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            data = json.loads(starting_file().read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = None
        info = read_runtime_file()
        if info is not None and pid_alive(info.owner_pid or info.pid):
            return info
        if not isinstance(data, dict) or not pid_alive(data.get("owner_pid")):
            return None
        if str(data.get("data_dir")) != str(stack_dir) or time.monotonic() >= deadline:
            return None
        time.sleep(0.2)


def data_dir(settings: DSPSettings) -> Path:
    if settings.embedded_data_dir:
        return Path(settings.embedded_data_dir)
    return Path(jupyter_data_dir()) / "dsp" / "stack"


@dataclass
class EmbeddedInfo:
    url: str
    token: str
    pid: int | None
    owner_pid: int | None
    namespace: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def healthy(url: str, token: str, timeout: float = 2.0) -> bool:
    req = urllib.request.Request(url.rstrip("/") + "/apis/v2beta1/healthz")
    req.add_header("Authorization", f"Bearer {token}")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=timeout) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def read_runtime_file(path: Path | None = None) -> EmbeddedInfo | None:
    """The announced stack, or None when there is no usable announcement."""
    path = path or runtime_file()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not data.get("url") or not data.get("token"):
        return None
    return EmbeddedInfo(
        url=str(data["url"]).rstrip("/"),
        token=str(data["token"]),
        pid=data.get("pid"),
        owner_pid=data.get("owner_pid"),
        namespace=str(data.get("namespace") or "default"),
    )


def write_runtime_file(info: EmbeddedInfo, path: Path | None = None) -> Path:
    """Write atomically with mode 0600 (it holds a token)."""
    path = path or runtime_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".jupyter-dsp-", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(info.to_json(), fh)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def read_data_dir_stack(settings: DSPSettings, namespace: str) -> EmbeddedInfo | None:
    """A stack serving the embedded data dir (e.g. ``jupyter-dsp stack serve``), if its
    process is alive; its token is the data dir's default token."""
    d = data_dir(settings)
    try:
        meta = json.loads((d / "stack.json").read_text(encoding="utf-8"))
        token = (d / "token").read_text(encoding="utf-8").strip()
    except (OSError, ValueError):
        return None
    url = str(meta.get("url") or "").rstrip("/") if isinstance(meta, dict) else ""
    pid = meta.get("pid") if isinstance(meta, dict) else None
    if not url or not token or not pid_alive(pid):
        return None
    return EmbeddedInfo(url, token, pid, pid, namespace)


class StackStarter:
    """An embedded stack this process may start: one already announced is reused, else one is
    started in its data dir and announced in its runtime file (0600); only what this process
    started is stopped. Subclasses say where the stack lives and which announced stack to trust:
    :class:`EmbeddedStackManager` (a laptop's project stack) and
    :class:`~jupyter_dsp.connection.local_stack.LocalStackManager` (run locally on a cluster)."""

    what = "embedded stack"

    def __init__(self, namespace: str, settings: DSPSettings | None) -> None:
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
        """Blocking: the running stack's URL and token (starting it when needed)."""
        with self._lock:
            if self._info is not None and self._still_up(self._info):
                return self._info
            self._info = self._reuse() or self._start()
            return self._info

    def forget(self) -> None:
        """The stack did not answer: check (and if need be restart) it on next use."""
        self._info = None

    # ----- what differs ------------------------------------------------------------------

    def _still_up(self, info: EmbeddedInfo) -> bool:
        return healthy(info.url, info.token)

    def _reuse(self) -> EmbeddedInfo | None:
        raise NotImplementedError

    def _data_dir(self, settings: DSPSettings) -> Path:
        raise NotImplementedError

    def _runtime_file(self) -> Path:
        raise NotImplementedError

    # ----- the same for both -------------------------------------------------------------

    def _start(self) -> EmbeddedInfo:
        from jupyter_dsp.stack import start_stack
        from jupyter_dsp.stack.runner.step_settings import StepSettings

        if self._handle is not None:  # ours, but it died: reap it before starting again
            self._handle.stop()
            self._handle = None
        settings = self.settings or DSPSettings.load()
        d = self._data_dir(settings)
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        steps = StepSettings.from_settings(settings)
        handle = start_stack(d, default_namespace=self.namespace, steps=steps)
        self._handle = handle
        info = EmbeddedInfo(handle.url, handle.token, handle.pid, os.getpid(), self.namespace)
        write_runtime_file(info, self._runtime_file())
        log.info("jupyter-dsp: started the %s at %s (data in %s)", self.what, handle.url, d)
        return info

    def stop(self) -> None:
        """Stop the stack if this process started it; leave others' stacks alone."""
        with self._lock:
            handle, self._handle = self._handle, None
            if handle is None:
                return
            self._info = None
            try:
                handle.stop()
            finally:
                announced = read_runtime_file(self._runtime_file())
                if announced and announced.owner_pid == os.getpid():
                    try:
                        self._runtime_file().unlink()
                    except OSError:
                        pass


class EmbeddedStackManager(StackStarter):
    """The project stack out of a cluster: started by the Jupyter server, or reused when one
    already serves (announced by a live server, or serving our data dir)."""

    def __init__(self, settings: DSPSettings, namespace: str = "default") -> None:
        super().__init__(namespace, settings)

    def ensure(self) -> EmbeddedInfo:
        try:
            return super().ensure()
        finally:
            clear_starting()

    def _reuse(self) -> EmbeddedInfo | None:
        announced = read_runtime_file()
        if announced and pid_alive(announced.owner_pid) and healthy(announced.url, announced.token):
            log.info("jupyter-dsp: reusing the embedded stack at %s", announced.url)
            return announced
        # a stack serving our data dir, started by someone else (e.g. `jupyter-dsp stack serve`)
        info = read_data_dir_stack(self.settings or DSPSettings.load(), self.namespace)
        if info and healthy(info.url, info.token):
            write_runtime_file(info)
            log.info("jupyter-dsp: reusing the embedded stack at %s", info.url)
            return info
        return None

    def _data_dir(self, settings: DSPSettings) -> Path:
        return data_dir(settings)

    def _runtime_file(self) -> Path:
        return runtime_file()
