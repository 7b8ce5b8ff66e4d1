"""Running a package environment's build (uv, and the PEP 517 backends it runs) as the step.

A build runs code the step chose (a package's build backend), so it gets no more rights than
the step: in a run, it is started through the run's :class:`launch.StepLauncher` (as the
step's own user in the step's sandbox when the stack runs as root; with the scrubbed
environment and the run's own ``TMPDIR`` either way). Outside a run (a library call) it runs
as the caller with the scrubbed environment and a private temporary directory.

When the step has its own user, the directories the build writes are handed to it before
(:func:`hand_over`) and taken back after (:func:`take_back`): every entry becomes root's,
loses group/other write and set-id bits, and an entry the build user does not own (a link or
a file of someone else's planted there) fails the build. Nothing is followed on the way.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO, Protocol

from jupyter_dsp.stack.runner import nofollow
from jupyter_dsp.stack.runner.env_requirements import EnvironmentBuildError, server_site_dirs
from jupyter_dsp.stack.runner.launch import StepLauncher, scrubbed_environment
from jupyter_dsp.stack.runner.run_context import RunContext, current_run

INSTALL_TIMEOUT = 30 * 60  # seconds for one install attempt


class LogSink(Protocol):
    def write(self, data: bytes, /) -> int: ...

    def flush(self) -> None: ...


class BuildRunner:
    """Runs one build command, its output appended to a log; ``uid``: the user it runs as
    when that is not the stack's own (None otherwise)."""

    uid: int | None = None

    def run(
        self,
        argv: list[str],
        log: LogSink,
        extra_env: dict[str, str],
        writable: Sequence[Path] = (),
    ) -> int:
        """``writable``: what the build may write (its environment and the uv cache)."""
        raise NotImplementedError


class CallerBuild(BuildRunner):
    """Outside a run: as the calling user, scrubbed environment, private TMPDIR."""

    def run(
        self,
        argv: list[str],
        log: LogSink,
        extra_env: dict[str, str],
        writable: Sequence[Path] = (),
    ) -> int:
        with tempfile.TemporaryDirectory(prefix="dsp-build-") as tmp:
            env = {**scrubbed_environment(dict(os.environ)), **extra_env}
            env.update({"TMPDIR": tmp, "HOME": tmp})
            with _output_file() as (path, out):
                try:
                    code = subprocess.run(
                        ["timeout", "--kill-after=10", str(INSTALL_TIMEOUT), *argv],
                        stdin=subprocess.DEVNULL,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        env=env,
                        cwd=tmp,
                        check=False,
                    ).returncode
                finally:
                    _copy_log(path, log)
        return code


class StepBuild(BuildRunner):
    """In a run: through the run's StepLauncher (the step's user, sandbox, environment)."""

    def __init__(self, run: RunContext, keep: list[Path]) -> None:
        # the step's own identity and sandbox, as the worker's launcher runs the step
        self.launcher = StepLauncher(
            run.run_id,
            run.run_dir,
            run.data_dir,
            extra_keep=keep,
            uid=run.uid,
            bwrap=run.bwrap,
            require_sandbox=run.multi_user,
        )
        self.uid = self.launcher.uid if self.launcher.isolated else None

    def run(
        self,
        argv: list[str],
        log: LogSink,
        extra_env: dict[str, str],
        writable: Sequence[Path] = (),
    ) -> int:
        command = ["timeout", "--kill-after=10", str(INSTALL_TIMEOUT), *argv]
        with _output_file() as (path, _out):
            try:
                return self.launcher.run(command, Path(path), extra_env, writable=writable)
            finally:
                _copy_log(path, log)


def builder_for(env_root: Path) -> BuildRunner:
    """The build runner of the current run (or of the caller, outside a run)."""
    run = current_run()
    if run is None:
        return CallerBuild()
    return StepBuild(run, [env_root])


class _output_file:  # noqa: N801 - a context manager used like a function
    """A new file for a build's output, in the worker's own (root-only) temporary dir."""

    def __enter__(self) -> tuple[str, BinaryIO]:
        fd, self.path = tempfile.mkstemp(prefix="dsp-build-", suffix=".log")
        self.file = os.fdopen(fd, "wb")
        return self.path, self.file

    def __exit__(self, *exc: object) -> None:
        self.file.close()
        os.unlink(self.path)


def _copy_log(path: str, log: LogSink) -> None:
    try:
        with open(path, "rb") as out:
            shutil.copyfileobj(out, log)
        log.flush()
    except (OSError, ValueError):
        pass  # a closed log never fails the build


class BuildTail:
    """Forwards a build's output to the step's log, keeping its last lines for the error."""

    def __init__(self, log: BinaryIO) -> None:
        self.log = log
        self.data = b""

    def write(self, data: bytes) -> int:
        try:
            self.log.write(data)
            self.log.flush()
        except (OSError, ValueError):
            pass  # a closed log never fails the build
        self.data = (self.data + data)[-16384:]
        return len(data)

    def flush(self) -> None:
        pass

    def lines(self) -> list[str]:
        text = self.data.decode("utf-8", "replace").splitlines()
        kept = [t.strip() for t in text if t.strip() and not t.startswith("Using Python")]
        return kept[-20:]


# ----- ownership ----------------------------------------------------------------------------


def hand_over(path: Path, uid: int) -> None:
    """Make the directory ``path`` (root's) and everything in it ``uid``'s."""
    _chown_tree(path, lambda st: st.st_uid == 0, uid, strip=False)


def take_back(path: Path, uid: int) -> None:
    """Make everything in ``path`` root's again, read-only for others; an entry ``uid`` did
    not own (planted) raises :class:`nofollow.UnsafePath`."""

    def owned(st: os.stat_result) -> bool:
        if st.st_uid in (uid, 0):
            return True
        raise nofollow.UnsafePath(f"the build left an entry it does not own in {path}")

    _chown_tree(path, owned, 0, strip=True)


def _chown_tree(
    path: Path, accept: Callable[[os.stat_result], bool], owner: int, strip: bool
) -> None:
    fd = nofollow.open_dir(os.path.abspath(path))
    with nofollow.closing_fd(fd):
        _chown_fd(fd, accept, owner, strip)
        for _root, dirs, files, dir_fd in os.fwalk(str(path), follow_symlinks=False):
            for name in dirs + files:
                st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                if not accept(st):
                    continue
                if stat.S_ISLNK(st.st_mode):
                    os.chown(name, owner, owner, dir_fd=dir_fd, follow_symlinks=False)
                    continue
                if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
                    raise nofollow.UnsafePath(f"a special file '{name}' in {path}")
                flags = nofollow.DIR_FLAGS if stat.S_ISDIR(st.st_mode) else nofollow.FILE_FLAGS
                with nofollow.closing_fd(os.open(name, flags, dir_fd=dir_fd)) as entry:
                    if os.fstat(entry).st_ino != st.st_ino:
                        raise nofollow.UnsafePath(f"'{name}' in {path} changed while handed back")
                    _chown_fd(entry, accept, owner, strip)


def _chown_fd(fd: int, accept: Callable[[os.stat_result], bool], owner: int, strip: bool) -> None:
    st = os.fstat(fd)
    if not accept(st):
        return
    os.fchown(fd, owner, owner)
    mode = stat.S_IMODE(st.st_mode)
    if strip:
        mode &= ~(stat.S_ISUID | stat.S_ISGID | 0o022)
    os.fchmod(fd, mode)


def layer_over_server(env: Path) -> None:
    """Make the server's site-packages visible after the step's own (``--system-site-packages``
    alone reaches only the base interpreter's, not those of a server running in a venv).
    ``site.addsitedir`` also runs their ``.pth`` files (editable installs)."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site_packages = env / "lib" / version / "site-packages"
    lines = [f"import site; site.addsitedir({d!r})" for d in server_site_dirs()]
    # the directory may be the build user's: created without following a link
    with nofollow.closing_fd(nofollow.open_dir(str(site_packages))) as dir_fd:
        nofollow.clear_entry(dir_fd, "jupyter_dsp_server_env.pth")
        fd = os.open("jupyter_dsp_server_env.pth", nofollow.NEW_FILE_FLAGS, 0o644, dir_fd=dir_fd)
        with os.fdopen(fd, "w") as out:
            out.write("\n".join(lines) + "\n")


def run_uv(
    runner: BuildRunner,
    argv: list[str],
    log: BinaryIO,
    packages: list[str],
    cache: Path,
    env: Path,
) -> None:
    """Run uv as the build runner does (writing only ``env`` and the namespace's
    ``cache``); raise with its last lines on failure."""
    extra = {
        "UV_CACHE_DIR": str(cache),
        "UV_LINK_MODE": "copy",
        "UV_NO_PROGRESS": "1",
        "NO_COLOR": "1",
        "VIRTUAL_ENV": "",
        "UV_PYTHON_DOWNLOADS": "never",
    }
    tail = BuildTail(log)
    try:
        code = runner.run(argv, tail, extra, writable=[env, cache])
    except OSError as exc:
        raise EnvironmentBuildError(
            f"could not install {', '.join(packages)}: cannot start uv ({exc})"
        ) from exc
    if code != 0:
        lines = tail.lines()
        if code in (124, 137):
            lines.append(f"the install took longer than {INSTALL_TIMEOUT}s")
        reason = " ".join(lines) or f"uv exited with status {code}"
        raise EnvironmentBuildError(f"could not install {', '.join(packages)}: {reason}")
