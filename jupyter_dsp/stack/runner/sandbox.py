"""Start one step as an unprivileged user that sees none of the stack's files.

Run as root by the worker (``python sandbox.py -- command...`` with the JSON spec in the
environment variable ``DSP_SANDBOX_SPEC``, which the step does not inherit; the rest of the
environment is the step's). This file imports nothing but the standard library, so it starts
fast and never imports the package. It:

1. enters a new mount namespace (private mounts, gone when the step's processes end) and
   binds the run's own temp directory on ``/tmp`` (steps that write fixed ``/tmp`` paths do
   not meet other runs' files there);
2. mounts an empty tmpfs (passable, not listable) over every directory in ``hide`` (the
   stack's data dir, and any directory the step user could not pass anyway, such as
   ``/root`` when the server's Python lives under it) and binds back only the directories
   in ``keep`` (the run's own work, artifact and temp directories, the Python installation
   and step environments);
3. drops every group and becomes ``uid``/``gid``; then runs the command in ``cwd``.

Without the right to make a mount namespace (no CAP_SYS_ADMIN), step 2 is skipped and the
files' own permissions are the only boundary (the stack's data dir is private to root).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import sys

CLONE_NEWNS = 0x00020000
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_NOSUID = 2
MS_NODEV = 4
SPEC_VARIABLE = "DSP_SANDBOX_SPEC"


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _mount(libc: ctypes.CDLL, source: str, target: str, fstype: str, flags: int, data: str) -> None:
    if (
        libc.mount(
            source.encode(),
            target.encode(),
            fstype.encode() if fstype else None,
            flags,
            data.encode() if data else None,
        )
        != 0
    ):
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source} on {target}: {os.strerror(err)}")


class PartialIsolation(OSError):
    """The private mount namespace exists but was not set up completely: the step must not
    run in it (its work directory may be hidden under a tmpfs and not bound back)."""


def isolate_mounts(hide: list[str], keep: list[str], tmp: str = "") -> None:
    libc = _libc()
    if libc.unshare(CLONE_NEWNS) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare: {os.strerror(err)}")
    _mount(libc, "none", "/", "", MS_REC | MS_PRIVATE, "")
    try:
        _hide_and_keep(libc, hide, keep, tmp)
    except OSError as exc:
        raise PartialIsolation(exc.errno or 0, str(exc)) from exc


def _hide_and_keep(libc: ctypes.CDLL, hide: list[str], keep: list[str], tmp: str) -> None:
    held = {}
    for path in keep:  # opened before anything is mounted over them
        if os.path.exists(path):
            held[path] = os.open(path, os.O_PATH | os.O_CLOEXEC)
    if tmp:  # the run's own temp dir is the step's /tmp
        _mount(libc, tmp, "/tmp", "", MS_BIND, "")
    for path in hide:
        if os.path.isdir(path):
            _mount(libc, "tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0711,size=1m")
    os.umask(0o066)  # mount points made inside a tmpfs: passable, not listable
    for path, fd in held.items():
        if os.path.isdir(f"/proc/self/fd/{fd}"):
            os.makedirs(path, exist_ok=True)
        elif not os.path.exists(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            open(path, "a").close()
        _mount(libc, f"/proc/self/fd/{fd}", path, "", MS_BIND | MS_REC, "")
        os.close(fd)


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] != "--":
        print("usage: DSP_SANDBOX_SPEC=... sandbox.py -- command...", file=sys.stderr)
        return 2
    env = dict(os.environ)
    spec = json.loads(env.pop(SPEC_VARIABLE, "{}"))
    command = argv[1:]
    try:
        isolate_mounts(
            list(spec.get("hide") or []), list(spec.get("keep") or []), str(spec.get("tmp") or "")
        )
    except OSError as exc:
        if spec.get("require_namespace") or isinstance(exc, PartialIsolation):
            print(f"[jupyter-dsp] cannot isolate the step: {exc}", file=sys.stderr)
            return 126
        print(
            f"[jupyter-dsp] no private mount namespace here ({exc}): the step runs as uid"
            f" {spec['uid']} with the files' permissions as the only boundary",
            file=sys.stderr,
        )
    uid, gid = int(spec["uid"]), int(spec["gid"])
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    try:
        os.chdir(spec.get("cwd") or "/")
    except OSError as exc:
        print(f"[jupyter-dsp] cannot enter the step's work directory: {exc}", file=sys.stderr)
        return 126
    os.umask(0o022)
    try:
        os.execvpe(command[0], command, env)
    except OSError as exc:
        print(f"[jupyter-dsp] cannot start {command[0]}: {exc}", file=sys.stderr)
        return 127
    return 0  # not reached


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
