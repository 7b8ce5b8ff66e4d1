"""The step sandbox: bubblewrap's command line for one step, and whether one can be made here.

Used by :mod:`launch` when the stack runs as root. bubblewrap (Debian's ``bubblewrap``) is
started as root, so that it can bind back directories the step's own user cannot reach by
path (the stack's 0700 data dir, a Python under ``/root``), and makes for the step:

- its own mount namespace: the host's ``/`` read-only; ``/tmp`` the run's own temp dir;
  private, empty ``/var/tmp`` and ``/dev/shm``; its own ``/proc`` and a minimal ``/dev``; an
  empty tmpfs over the stack's data dir (database, tokens, logs, other runs), the
  service-account token dirs and every directory the step could not pass anyway; then only
  the run's work, artifact, temp and workspace dirs (read-write), the Python installations
  and step environments (read-only) bound back at their own paths;
- its own PID namespace (``/proc`` shows the step's processes only; when the step's main
  process ends, the namespace's init ends and the kernel kills every process left in it,
  ``setsid`` daemons included) and IPC namespace; the network is the host's (steps
  ``pip install``);
- all capabilities dropped but those ``setpriv`` needs to become the step's uid/gid (no
  supplementary groups, empty bounding set); bubblewrap sets ``no_new_privs``, so no setuid
  program gives them back. ``--die-with-parent``: the step dies with its worker.

When the stack does not run as root, :mod:`launch` uses the same command line without an
identity: bubblewrap runs as the stack's user in a user namespace of its own, the host's
``/`` and devices as that user sees them, with the same PID/IPC namespaces, private
``/var/tmp`` and ``/dev/shm``, and the data dir hidden but for the run's own dirs.

Standard library only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

#: host directories holding service-account tokens and other mounted secrets
SECRET_DIRS = ("/var/run/secrets", "/run/secrets")
#: world-writable directories every step gets a private, empty copy of
PRIVATE_TMPFS = ("/var/tmp", "/dev/shm")
# until setpriv drops them all: to enter the step's work dir (owned by the step) and to
# change the uid
_KEEP_CAPS = ("CAP_DAC_READ_SEARCH", "CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP")


class SandboxUnavailable(RuntimeError):
    """No step sandbox can be made on this machine (the message says what to install)."""


def install_hint(detail: str) -> str:
    return (
        f"jupyter-dsp: a multi-user embedded stack run as root runs every step in a"
        f" bubblewrap sandbox, and none can be made here ({detail}). Install bubblewrap"
        " (Debian/Ubuntu: apt-get install bubblewrap; Fedora/RHEL: dnf install bubblewrap)"
        " and util-linux's setpriv, or name the bwrap binary with --bwrap PATH; where"
        " bubblewrap is installed but cannot make namespaces, enable them (sysctl"
        " kernel.unprivileged_userns_clone=1 on Debian kernels, a nonzero"
        " user.max_user_namespaces, or a container runtime that allows unshare). Or run"
        " the stack single-user (--single-user), where steps run as you."
    )


def find_tools(bwrap: str = "bwrap") -> tuple[str, str]:
    """The paths of ``bwrap`` and ``setpriv`` (SandboxUnavailable if one is missing)."""
    found = shutil.which(bwrap)
    if not found:
        raise SandboxUnavailable(install_hint(f"no bwrap program {bwrap!r} on PATH"))
    setpriv = shutil.which("setpriv")
    if not setpriv:
        raise SandboxUnavailable(install_hint("no setpriv program on PATH"))
    return found, setpriv


def check_sandbox(bwrap: str = "bwrap", uid: int = 65534) -> tuple[str, str]:
    """Make one sandbox for ``true`` as ``uid``: returns the tools, or raises
    :class:`SandboxUnavailable` saying why not (missing program, namespaces refused)."""
    bwrap_path, setpriv = tools = find_tools(bwrap)
    argv = command_line(bwrap_path, (setpriv, uid, uid), "/", "", [], [], [], ["true"])
    try:
        done = subprocess.run(argv, capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as exc:
        raise SandboxUnavailable(install_hint(f"bwrap did not run: {exc}")) from None
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip().splitlines()
        detail = said[-1] if said else f"exit code {done.returncode}"
        raise SandboxUnavailable(install_hint(f"bwrap failed: {detail}"))
    return tools


def _under(path: Path, roots: Iterable[Path]) -> Path | None:
    """The root of ``roots`` that ``path`` lies in or is (None if none)."""
    for root in roots:
        if path == root or root in path.parents:
            return root
    return None


def _outermost(paths: Iterable[Path]) -> list[Path]:
    unique = sorted(set(paths), key=lambda p: (len(p.parts), str(p)))
    outer: list[Path] = []
    for path in unique:
        if _under(path, outer) is None:
            outer.append(path)
    return outer


def command_line(
    bwrap: str,
    identity: tuple[str, int, int] | None,
    cwd: str,
    tmp: str | None,
    hide: Iterable[str],
    writable: Iterable[str],
    readable: Iterable[str],
    command: list[str],
) -> list[str]:
    """bubblewrap's argv that runs ``command`` in ``cwd``.

    ``identity``: ``(setpriv, uid, gid)`` when bwrap runs as root (the host's ``/``
    read-only, the step becomes uid/gid); None when it runs as the step's own user (a user
    namespace of its own, the host's ``/`` as that user sees it). ``tmp``: the host dir
    bound on ``/tmp`` (empty: a tmpfs; None: the host's); ``hide``: host dirs covered by an
    empty tmpfs; ``writable``/``readable``: host paths bound at their own path (a readable
    one only where a tmpfs covers it; elsewhere ``/`` shows it).
    """
    hidden = [Path(h) for h in hide if os.path.isdir(h)]
    hidden += [Path(p).resolve() for p in SECRET_DIRS if os.path.isdir(p)]
    covers = _outermost(hidden)
    private = [Path(p) for p in PRIVATE_TMPFS if os.path.isdir(p)]
    argv = [bwrap, "--unshare-pid", "--unshare-ipc", "--die-with-parent"]
    if identity is None:  # the user's own devices (a GPU) stay; /dev/shm is made private below
        argv += ["--unshare-user", "--dev-bind", "/", "/", "--proc", "/proc"]
    else:
        argv += ["--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev"]
    if tmp is not None:
        argv += ["--bind", tmp, "/tmp"] if tmp else ["--tmpfs", "/tmp"]
    for path in private:  # like the host's: for everyone, sticky
        argv += ["--perms", "1777", "--tmpfs", str(path)]
    mounted = [*([Path("/tmp")] if tmp is not None else []), *private]
    for path in covers:  # passable (to what is bound back), not listable
        if _under(path, mounted) is None:
            argv += ["--perms", "0711", "--tmpfs", str(path)]
            mounted.append(path)
    binds: dict[Path, str] = {Path(r): "--ro-bind" for r in readable}
    binds.update({Path(w): "--bind" for w in writable})  # writable wins
    made: set[Path] = set(mounted)
    bound: dict[Path, str] = {}
    for path in sorted(binds, key=lambda p: (len(p.parts), str(p))):  # parents first
        cover = _under(path, mounted)
        inside = _under(path, bound)
        if path in made or not path.exists():
            continue
        if (cover is None and binds[path] == "--ro-bind") or (
            inside is not None and bound[inside] == binds[path]
        ):
            continue  # the read-only / or a bind above shows it already, the same way
        for parent in reversed(path.parents):  # mount points: passable, not listable
            if cover is not None and cover in parent.parents and parent not in made:
                argv += ["--perms", "0711", "--dir", str(parent)]
                made.add(parent)
        argv += [binds[path], str(path), str(path)]
        made.add(path)
        bound[path] = binds[path]
    argv += ["--chdir", cwd]
    if identity is None:
        return [*argv, "--", *command]
    setpriv, uid, gid = identity
    argv += ["--cap-drop", "ALL"]
    for cap in _KEEP_CAPS:
        argv += ["--cap-add", cap]
    argv += [setpriv, f"--reuid={uid}", f"--regid={gid}", "--clear-groups"]
    argv += ["--inh-caps=-all", "--bounding-set=-all", "--", *command]
    return argv
