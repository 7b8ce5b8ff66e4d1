"""The OS identity a namespace's steps run as when the stack runs as root.

Each namespace gets its own unprivileged uid (gid the same number; no account is made):
``STEP_UID_BASE`` + a number derived from the namespace's name, moved on to the next free
number when that one is taken by another namespace or by an account of this machine. The
choice is kept in ``D/step-identities.json`` (0600, changed under a lock), so two namespaces
never share a uid and a namespace keeps its uid across restarts.
"""

from __future__ import annotations

import fcntl
import json
import os
import pwd
import zlib
from pathlib import Path

STEP_UID_BASE = 200_000
STEP_UID_SPAN = 100_000
IDENTITIES_FILE = "step-identities.json"


def preferred_uid(name: str) -> int:
    return STEP_UID_BASE + zlib.crc32(name.encode()) % STEP_UID_SPAN


def _is_account(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return False
    return True


def namespace_uid(data_dir: Path, namespace: str) -> int:
    """The uid of ``namespace``'s steps on the stack of ``data_dir`` (allocated if new)."""
    fd = os.open(Path(data_dir) / IDENTITIES_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    with os.fdopen(fd, "r+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            known = json.loads(handle.read() or "{}")
        except ValueError:
            known = {}
        if not isinstance(known, dict):
            known = {}
        if isinstance(known.get(namespace), int):
            return int(known[namespace])
        taken = {v for v in known.values() if isinstance(v, int)}
        uid = preferred_uid(namespace)
        while uid in taken or _is_account(uid):
            uid = STEP_UID_BASE + (uid - STEP_UID_BASE + 1) % STEP_UID_SPAN
        known[namespace] = uid
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(known, sort_keys=True))
        handle.flush()
        os.fsync(handle.fileno())
        return uid
