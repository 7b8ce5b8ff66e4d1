"""The run engine's worker processes: starting one, signalling its group, reading its end.

A worker is ``python -m jupyter_dsp.stack.runner.worker RUN_DIR`` in a session of its own
(its pid is its process group), reporting events on a pipe; it sees none of the notebook
server's or this extension's variables.
"""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from jupyter_dsp.stack.runner import worker as worker_module
from jupyter_dsp.stack.runner.model import RunSnapshot
from jupyter_dsp.stack.runner.run_context import RUN_DIR_VARIABLE

WORKER_MODULE = "jupyter_dsp.stack.runner.worker"


def default_workers() -> int:
    """How many runs go at once unless told: one per CPU."""
    return max(1, os.cpu_count() or 1)


@dataclass
class Worker:
    """A running worker, as the engine follows it."""

    process: subprocess.Popen[bytes]
    events: IO[str]
    snap: RunSnapshot  # the attempt this process runs (a retry gets a new snapshot)
    cancel_requested: bool = False
    finished: dict[str, Any] | None = None


_PRIVATE_ENV_PREFIXES = ("JUPYTER_DSP_", "JPY_", "JUPYTERHUB_")
_PRIVATE_ENV = {"JUPYTER_TOKEN", "JUPYTER_PASSWORD"}


def write_private(path: Path, text: str) -> None:
    """Write ``path`` readable by its owner only (0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def private_env(name: str) -> bool:
    """Variables of the notebook server and of this extension that steps must not see."""
    return name in _PRIVATE_ENV or name.startswith(_PRIVATE_ENV_PREFIXES)


def signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def kill_if_alive(process: subprocess.Popen[bytes]) -> None:
    # Until the worker is reaped its pid (the group id) cannot be reused. Once it is reaped,
    # the follower thread has already killed the whole group.
    if process.returncode is None:
        signal_group(process.pid, signal.SIGKILL)


def log_tail(path: Path, limit: int = 400) -> str:
    try:
        data = path.read_bytes()[-4096:].decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [ln.strip() for ln in data.splitlines() if ln.strip()]
    return lines[-1][:limit] if lines else ""


def kill_stale_worker(pid: int) -> bool:
    """Kill the process group of a worker left by a stack that died (True if one was found)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode("utf-8", "replace")
    except OSError:
        return False
    if WORKER_MODULE not in cmdline:
        return False
    signal_group(pid, signal.SIGKILL)
    return True


def spawn_worker(python: str, run_dir: Path) -> tuple[subprocess.Popen[bytes], IO[str]]:
    """Start the worker of the run in ``run_dir``: its process and the pipe of its events."""
    read_fd, write_fd = os.pipe()
    # the folder jupyter_dsp is imported from (worker.py is jupyter_dsp/stack/runner/...)
    package_root = str(Path(worker_module.__file__).resolve().parents[3])
    env = {k: v for k, v in os.environ.items() if not private_env(k)}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    env["TMPDIR"] = str(run_dir / "tmp")
    env["PYTHONUNBUFFERED"] = "1"
    env[RUN_DIR_VARIABLE] = str(run_dir)  # run_context.current_run() in the worker
    try:
        log_fd = os.open(run_dir / "worker.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(log_fd, "ab") as log:
            process = subprocess.Popen(
                [
                    python,
                    "-m",
                    WORKER_MODULE,
                    str(run_dir),
                    "--events-fd",
                    str(write_fd),
                    "--parent-pid",
                    str(os.getpid()),
                ],
                cwd=run_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(write_fd,),
                start_new_session=True,
            )
    except OSError:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    return process, os.fdopen(read_fd, "r", encoding="utf-8")
