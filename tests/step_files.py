"""A run's step files and processes, seen from the test.

When the stack runs as root, steps run as their namespace's uid in a sandbox: the host's
``/`` read-only, ``/tmp``, ``/var/tmp`` and ``/dev/shm`` their own, their own PID namespace.
A step that leaves a file for the test writes it into its work dir (a relative path), which
the test finds under the run's directory; a pid a step writes is its namespace's, so the
test finds a step's processes on the host by a marker in their command line.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path


def marker(prefix: str = "step") -> str:
    """A unique relative file name, also usable as a command-line marker."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def work_file(run_dir: Path, name: str) -> Path:
    """Where a step's relative ``name`` is on the host."""
    return run_dir / "work" / name


def host_pids_with(needle: bytes) -> list[int]:
    """Live host processes whose command line or environment holds ``needle``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue  # a zombie is gone for our purpose
        except (OSError, IndexError):
            continue
        for name in ("cmdline", "environ"):
            try:
                with open(f"/proc/{entry}/{name}", "rb") as f:
                    if needle in f.read():
                        found.append(int(entry))
                        break
            except OSError:
                continue
    return found
