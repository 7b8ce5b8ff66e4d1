"""Starting a step's process: its environment, its user, its view of the files.

Steps never see the stack's secrets: the environment is the worker's (already without the
notebook server's and the extension's variables) minus anything that looks like a token,
password or secret of the server, with ``HOME`` and ``TMPDIR`` in the run's own directory.

When the stack runs as root, each step runs as its namespace's own unprivileged uid
(:mod:`identities`; ``step_uid(run_id)`` when no uid is given) in a bubblewrap sandbox
(:mod:`sandbox`): the stack's data dir, other runs and service-account tokens invisible,
``/tmp``, ``/var/tmp``, ``/dev/shm``, ``/proc`` and IPC of its own, only this run's work,
artifact, temp and workspace dirs writable, and every process of the step ended with it.
A multi-user stack does not start where no such sandbox can be made; a single-user stack
run as root without bubblewrap runs steps as root (single-user: steps run as you).

When the stack does not run as root, steps run as the stack's own user (SECURITY.md: the
embedded stack is then a single-person tool); where bubblewrap can make a user namespace
there too, they also get their own PID and IPC namespaces, ``/proc``, ``/var/tmp`` and
``/dev/shm``, the stack's data dir (but their run's dirs) hidden, and no process outlives
the step.

:meth:`StepLauncher.run` is the one way to run something as a step: the step's command, and
the work done for a step (package environment builds), with ``writable``/``readable`` for
more host paths the command needs.
"""

from __future__ import annotations

import functools
import os
import shutil
import stat
import subprocess
import sys
import sysconfig
from collections.abc import Iterable, Sequence
from pathlib import Path

from jupyter_dsp.stack.runner import sandbox
from jupyter_dsp.stack.runner.identities import STEP_UID_BASE, STEP_UID_SPAN, preferred_uid

__all__ = ["STEP_UID_BASE", "STEP_UID_SPAN", "StepLauncher", "scrubbed_environment", "step_uid"]

_SECRET_WORDS = ("TOKEN", "PASSWORD", "SECRET", "PASSWD", "CREDENTIAL")
_KEEP_SECRET_PREFIXES = ("AWS_",)  # the data connection a step may use (S3)
NO_SANDBOX_EXIT = 126


def step_uid(run_id: str) -> int:
    """A uid for a run's steps when no namespace uid is given (engine used on its own)."""
    return preferred_uid(run_id)


def scrubbed_environment(base: dict[str, str]) -> dict[str, str]:
    """The server's variables a step may see."""
    env = {}
    for name, value in base.items():
        upper = name.upper()
        if upper.startswith(("JUPYTER", "JPY_", "DSP_")):
            continue
        if any(w in upper for w in _SECRET_WORDS) and not upper.startswith(_KEEP_SECRET_PREFIXES):
            continue
        env[name] = value
    return env


def _others_can_pass(path: Path) -> bool:
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return bool(mode & stat.S_IXOTH)


def _blocking_ancestor(path: Path) -> Path | None:
    """The outermost ancestor of ``path`` that other users cannot pass (None if all can)."""
    current = Path("/")
    for part in path.resolve().parts[1:-1]:
        current = current / part
        if not _others_can_pass(current):
            return current
    return None


def _python_dirs(python: str) -> list[Path]:
    dirs = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix)}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        value = sysconfig.get_paths().get(key)
        if value:
            dirs.add(Path(value))
    exe = Path(python)
    dirs.add(exe.parent.parent if exe.parent.name == "bin" else exe.parent)
    try:
        dirs.add(exe.resolve().parent.parent)
    except OSError:
        pass
    return sorted(dirs)


@functools.lru_cache(maxsize=4)
def _own_namespaces(bwrap: str) -> str:
    """The bwrap path when it can give an unprivileged step its own user and PID namespace
    here ('' if not: steps then run as plain processes)."""
    found = shutil.which(bwrap)
    if not found:
        return ""
    argv = [found, *_unprivileged_options(), "true"]
    try:
        done = subprocess.run(argv, capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return ""
    return found if done.returncode == 0 else ""


def _unprivileged_options() -> list[str]:
    return ["--unshare-user", "--unshare-pid", "--unshare-ipc", "--die-with-parent"] + [
        "--dev-bind", "/", "/", "--proc", "/proc",
    ]  # fmt: skip


class StepLauncher:
    """Runs the commands of one run's steps.

    ``uid``: the step identity when the stack runs as root (default ``step_uid(run_id)``);
    ``bwrap``: the bubblewrap program; ``require_sandbox``: as root, never run a step
    without the sandbox (a multi-user stack).
    """

    def __init__(
        self,
        run_id: str,
        run_dir: Path,
        data_dir: Path | None,
        python: str = sys.executable,
        extra_keep: list[Path] | None = None,
        *,
        uid: int | None = None,
        bwrap: str = "bwrap",
        require_sandbox: bool = False,
    ) -> None:
        self.run_dir = run_dir
        self.data_dir = data_dir
        self.python = python
        self.tools: tuple[str, str] | None = None
        self.unavailable = ""  # why a required sandbox cannot be made
        self.bwrap = bwrap
        if os.geteuid() == 0:
            try:
                self.tools = sandbox.find_tools(bwrap)
            except sandbox.SandboxUnavailable as exc:
                self.unavailable = str(exc) if require_sandbox else ""
        self.isolated = self.tools is not None
        self.uid = self.gid = step_uid(run_id) if uid is None else int(uid)
        self.work = run_dir / "work"
        self.tmp = run_dir / "step-tmp"
        self.artifacts = run_dir / "artifacts"
        self.workspace = run_dir / "workspace"
        self.extra_keep = list(extra_keep or [])
        for d in (self.work, self.tmp, self.artifacts, self.workspace):
            d.mkdir(parents=True, exist_ok=True)
            if self.isolated:
                os.chown(d, self.uid, self.gid)
                d.chmod(0o700)

    def prepare_output_dir(self, path: Path) -> None:
        """Let the step write into ``path`` (created by the worker)."""
        if not self.isolated:
            return
        current = path
        while current != self.artifacts and self.artifacts in current.parents:
            os.chown(current, self.uid, self.gid)
            current = current.parent

    def outside_path(self, path: str) -> str:
        """Where a path the step saw is for the worker (the step's /tmp is the run's)."""
        if self.isolated and (path == "/tmp" or path.startswith("/tmp/")):
            return str(self.tmp / path[5:])
        return path

    def environment(self, extra: dict[str, str]) -> dict[str, str]:
        env = scrubbed_environment(dict(os.environ))
        env.update(extra)
        tmp = "/tmp" if self.isolated else str(self.tmp)
        env.update(
            {
                "HOME": tmp,
                "TMPDIR": tmp,
                "PYTHONUNBUFFERED": "1",
                "PYTHONDONTWRITEBYTECODE": "1",
            }
        )
        env.pop("PYTHONSTARTUP", None)
        return env

    def mounts(
        self, env: dict[str, str], writable: Iterable[Path] = (), readable: Iterable[Path] = ()
    ) -> tuple[list[str], list[str], list[str]]:
        """``(hide, writable, readable)`` host paths of the step's sandbox."""
        rw = [self.work, self.artifacts, self.workspace, *writable]
        if not self.isolated:  # (isolated, step-tmp is its /tmp)
            rw.append(self.tmp)
        ro = [*self.extra_keep, *readable]
        ro += [Path(e) for e in env.get("PYTHONPATH", "").split(os.pathsep) if e]
        ro += _python_dirs(self.python)
        hide = {self.run_dir.parent.resolve()}  # every run of the stack
        if self.data_dir is not None:
            hide.add(Path(self.data_dir).resolve())
        for path in (*rw, *ro) if self.isolated else ():  # what the step's uid cannot pass
            blocker = _blocking_ancestor(path)
            if blocker is not None:
                hide.add(blocker)
        return (
            sorted(str(h) for h in hide),
            [str(p.resolve()) for p in rw],
            [str(p.resolve()) for p in ro if p.exists()],
        )

    def command_line(
        self,
        command: Sequence[str],
        env: dict[str, str],
        *,
        writable: Iterable[Path] = (),
        readable: Iterable[Path] = (),
        cwd: Path | None = None,
    ) -> list[str]:
        """The full argv that runs ``command`` as the step (in its sandbox when there is one)."""
        where = str((cwd or self.work).resolve())
        if self.tools is not None:
            bwrap, setpriv = self.tools
            hide, rw, ro = self.mounts(env, writable, readable)
            identity = (setpriv, self.uid, self.gid)
            tmp = str(self.tmp)
            return sandbox.command_line(bwrap, identity, where, tmp, hide, rw, ro, list(command))
        unprivileged = _own_namespaces(self.bwrap) if os.geteuid() != 0 else ""
        if unprivileged:  # the stack's own user: its /tmp, the data dir hidden all the same
            hide, rw, ro = self.mounts(env, writable, readable)
            return sandbox.command_line(
                unprivileged, None, where, None, hide, rw, ro, list(command)
            )
        return list(command)

    def run(
        self,
        command: list[str],
        log_path: Path,
        extra_env: dict[str, str],
        *,
        writable: Iterable[Path] = (),
        readable: Iterable[Path] = (),
        cwd: Path | None = None,
    ) -> int:
        """Run ``command`` as the step with its output appended to ``log_path``; returns the
        exit code. ``writable``/``readable``: more host paths the command may write or read
        (bound in at their own path); ``cwd``: default the run's work dir."""
        env = self.environment(extra_env)
        fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "ab", buffering=0) as log:
            if self.unavailable:
                log.write(f"[jupyter-dsp] the step cannot run: {self.unavailable}\n".encode())
                return NO_SANDBOX_EXIT
            argv = self.command_line(command, env, writable=writable, readable=readable, cwd=cwd)
            with subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd or self.work,
            ) as process:
                return process.wait()
