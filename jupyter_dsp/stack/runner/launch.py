"""Starting a step's process: its environment, its user, its view of the files.

Steps never see the stack's secrets: the environment is the worker's (already without the
notebook server's and the extension's variables) minus anything that looks like a token,
password or secret of the server, with ``HOME`` and ``TMPDIR`` in the run's own directory.

When the stack runs as root, each run's steps run as their own unprivileged user id
(``STEP_UID_BASE`` + a number derived from the run id; no account is needed) through
:mod:`sandbox`: a private mount namespace hides the stack's data dir (database, tokens, other
runs) and every directory the step could not pass anyway, and binds back only this run's work,
artifact and temp directories and the Python installations the step needs. When the stack
does not run as root, steps run as the same user as the stack (the README says so: the
embedded stack is then a single-person tool, and namespace roles are no security boundary).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import sysconfig
import zlib
from pathlib import Path

STEP_UID_BASE = 200_000
STEP_UID_SPAN = 100_000
_SECRET_WORDS = ("TOKEN", "PASSWORD", "SECRET", "PASSWD", "CREDENTIAL")
_KEEP_SECRET_PREFIXES = ("AWS_",)  # the data connection a step may use (S3)
SANDBOX = Path(__file__).with_name("sandbox.py")


def step_uid(run_id: str) -> int:
    return STEP_UID_BASE + zlib.crc32(run_id.encode()) % STEP_UID_SPAN


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


class StepLauncher:
    """Runs the commands of one run's steps."""

    def __init__(
        self,
        run_id: str,
        run_dir: Path,
        data_dir: Path | None,
        python: str = sys.executable,
        extra_keep: list[Path] | None = None,
    ) -> None:
        self.run_dir = run_dir
        self.data_dir = data_dir
        self.python = python
        self.isolated = os.geteuid() == 0
        self.uid = self.gid = step_uid(run_id)
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
        if self.isolated:
            # pass-through only, no listing: where no mount namespace can be made (see
            # sandbox.py) the step user still reaches its own run's directories
            chain = [run_dir.parent, run_dir]
            if data_dir is not None and data_dir in run_dir.parents:
                chain.insert(0, data_dir)
            for d in chain:
                d.chmod(d.stat().st_mode | stat.S_IXOTH)

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

    def _spec(self, env: dict[str, str]) -> dict[str, object]:
        keep = [self.work, self.tmp, self.artifacts, self.workspace, *self.extra_keep]
        for entry in env.get("PYTHONPATH", "").split(os.pathsep):
            if entry:
                keep.append(Path(entry))
        keep += _python_dirs(self.python)
        hide: set[Path] = set()
        if self.data_dir is not None:
            hide.add(self.data_dir.resolve())
        for path in keep:
            blocker = _blocking_ancestor(path)
            if blocker is not None:
                hide.add(blocker)
        hidden = sorted(hide, key=lambda p: len(p.parts))
        outer = [h for h in hidden if not any(o in h.parents for o in hidden if o != h)]
        # what lies under a hidden directory, or under /tmp (the step gets the run's own),
        # is bound back
        covering = [*outer, Path("/tmp")]
        kept = sorted({str(k) for k in keep if any(h == k or h in k.parents for h in covering)})
        return {
            "uid": self.uid,
            "gid": self.gid,
            "cwd": str(self.work),
            "tmp": str(self.tmp),
            "hide": [str(h) for h in outer],
            "keep": kept,
        }

    def run(self, command: list[str], log_path: Path, extra_env: dict[str, str]) -> int:
        """Run ``command`` with its output appended to ``log_path``; returns the exit code."""
        env = self.environment(extra_env)
        argv = list(command)
        if self.isolated:
            env = {**env, "DSP_SANDBOX_SPEC": json.dumps(self._spec(env))}
            argv = [sys.executable, "-I", "-S", str(SANDBOX), "--", *command]
        with open(log_path, "ab", buffering=0) as log:
            with subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.work,
            ) as process:
                return process.wait()
