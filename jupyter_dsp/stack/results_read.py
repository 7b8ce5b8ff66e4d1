"""Reading an artifact's bytes: HTTP ranges, a size cap per read, directories as tar streams.

Plain functions, used by the stack's content endpoint and testable without a server:

- :func:`plan_read` turns a size, a ``Range`` header and the cap into what to send
  (status 200 or 206, the first byte, the length, ``Content-Range``), or raises
  :class:`ReadRefused` with the status to answer (416 for a range that cannot be
  satisfied, 413 for a read larger than the cap: ask for a range of at most the cap).
- :func:`iter_file` yields a byte range of a file in chunks (never the whole file in memory).
- A directory is sent as an uncompressed POSIX tar built on the fly: :func:`tar_plan` lists its
  regular files (symlinks and special files are left out) and knows the exact size in advance,
  so the answer has a ``Content-Length`` and can be cut by a range like a file;
  :func:`iter_tar` yields it.

The files are a step's, which may swap one for a link after its run: every read walks the
path one component at a time without following links (:mod:`runner.nofollow`), so a link
is refused at read time, not just when the path was checked.
"""

from __future__ import annotations

import os
import re
import stat
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from jupyter_dsp.stack.runner import nofollow

CHUNK = 256 * 1024
BLOCK = tarfile.BLOCKSIZE  # 512
DEFAULT_MAX_READ = 1024 * 1024 * 1024  # 1 GiB per request unless configured
_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


class ReadRefused(Exception):
    def __init__(self, status: int, message: str, size: int) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.size = size


@dataclass(frozen=True)
class ReadPlan:
    status: int  # 200 or 206
    start: int
    length: int
    size: int

    @property
    def content_range(self) -> str | None:
        if self.status != 206:
            return None
        return f"bytes {self.start}-{self.start + self.length - 1}/{self.size}"


def plan_read(size: int, range_header: str | None, max_read: int) -> ReadPlan:
    """What to send of ``size`` bytes for this ``Range`` header (one range only)."""
    if not range_header:
        if size > max_read:
            raise ReadRefused(
                413,
                f"The artifact is {size} bytes, more than the {max_read} bytes one read may"
                f" return; ask for a part with a Range header (bytes=START-END)",
                size,
            )
        return ReadPlan(200, 0, size, size)
    match = _RANGE.match(range_header)
    if match is None:
        raise ReadRefused(
            416, f"Unsupported Range {range_header!r}: give one range, bytes=START-END", size
        )
    first, last = match.group(1), match.group(2)
    if first == "" and last == "":
        raise ReadRefused(416, f"Unsupported Range {range_header!r}", size)
    if first == "":  # the last N bytes
        count = int(last)
        if count == 0:
            raise ReadRefused(416, "A suffix range of 0 bytes selects nothing", size)
        start = max(0, size - count)
        end = size - 1
    else:
        start = int(first)
        if last != "" and int(last) < start:
            raise ReadRefused(416, f"Range {range_header!r} ends before it starts", size)
        end = min(int(last), size - 1) if last != "" else size - 1
    if start >= size:
        raise ReadRefused(
            416, f"Range {range_header!r} starts at or after the end ({size} bytes)", size
        )
    length = end - start + 1
    if length > max_read:
        raise ReadRefused(
            413,
            f"Range {range_header!r} asks for {length} bytes, more than the {max_read} bytes"
            f" one read may return",
            size,
        )
    return ReadPlan(206, start, length, size)


def iter_file(path: Path, start: int, length: int, chunk: int = CHUNK) -> Iterator[bytes]:
    """``length`` bytes of ``path`` from ``start``, ``chunk`` bytes at a time (fewer if the
    file shrank). ``path`` is opened without following links: OSError for a link."""
    with nofollow.closing_fd(nofollow.open_file(os.path.abspath(path))) as fd:
        yield from nofollow.read_range(fd, start, length, chunk)


@dataclass(frozen=True)
class TarMember:
    header: bytes
    path: Path | None  # None for a directory entry
    size: int


@dataclass(frozen=True)
class TarPlan:
    members: tuple[TarMember, ...]
    size: int


def _padded(n: int) -> int:
    return (n + BLOCK - 1) // BLOCK * BLOCK


def tar_plan(directory: Path) -> TarPlan:
    """The tar of ``directory`` (top entry named like it), its exact size computed up front.
    Walked by file descriptors without following links (links are left out)."""
    members: list[TarMember] = []
    base = directory.name or "artifact"

    def info(st: os.stat_result, name: str, is_dir: bool) -> tarfile.TarInfo:
        entry = tarfile.TarInfo(name)
        entry.mtime = int(st.st_mtime)
        entry.mode = 0o755 if is_dir else 0o644
        entry.type = tarfile.DIRTYPE if is_dir else tarfile.REGTYPE
        entry.size = 0 if is_dir else st.st_size
        return entry

    def walk(fd: int, path: Path, prefix: str) -> None:
        members.append(
            TarMember(info(os.fstat(fd), prefix, True).tobuf(tarfile.PAX_FORMAT), None, 0)
        )
        with os.scandir(fd) as entries:
            names = sorted(e.name for e in entries)
        subdirs = []
        for name in names:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                subdirs.append(name)
            elif stat.S_ISREG(st.st_mode):
                entry = info(st, f"{prefix}/{name}", False)
                members.append(TarMember(entry.tobuf(tarfile.PAX_FORMAT), path / name, entry.size))
        for name in subdirs:
            try:
                sub = os.open(name, nofollow.DIR_FLAGS, dir_fd=fd)
            except OSError:
                continue  # swapped meanwhile: left out
            with nofollow.closing_fd(sub):
                walk(sub, path / name, f"{prefix}/{name}")

    with nofollow.closing_fd(nofollow.open_dir(os.path.abspath(directory))) as top:
        walk(top, Path(os.path.abspath(directory)), base)
    size = sum(len(m.header) + _padded(m.size) for m in members) + 2 * BLOCK
    return TarPlan(tuple(members), size)


def iter_tar(plan: TarPlan, start: int, length: int, chunk: int = CHUNK) -> Iterator[bytes]:
    """Bytes ``start`` .. ``start + length`` of the tar described by ``plan``.

    Files wholly outside the range are not read; a file that shrank since the plan is
    padded with zeros so that the promised length holds.
    """
    end = start + length
    position = 0

    def window(size: int) -> tuple[int, int]:  # the part of [position, position+size) wanted
        return max(start, position) - position, min(end, position + size) - position

    for member in plan.members:
        lo, hi = window(len(member.header))
        if lo < hi:
            yield member.header[lo:hi]
        position += len(member.header)
        padded = _padded(member.size)
        lo, hi = window(padded)
        if member.path is not None and lo < hi:
            sent = 0
            if lo < member.size:
                try:
                    for data in iter_file(member.path, lo, min(hi, member.size) - lo, chunk):
                        sent += len(data)
                        yield data
                except OSError:
                    pass  # swapped for a link (or removed) since the plan: zeros instead
            if hi - lo - sent > 0:  # padding; never an empty chunk (it may read as the end)
                yield bytes(hi - lo - sent)
        position += padded
        if position >= end:
            return
    lo, hi = window(2 * BLOCK)
    if lo < hi:
        yield bytes(hi - lo)
