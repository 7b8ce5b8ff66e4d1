"""Reading and writing files on a step's behalf without following symbolic links.

The stack (often root) reads and writes files a step could have changed: its outputs, the
directories of its run, a path it names for an importer. Resolving a path and then opening
it leaves a window in which a step swaps a file or a directory for a link (to the stack's
token, ``/etc/shadow``, another run). Here every path is walked one component at a time from
a directory file descriptor with ``O_NOFOLLOW`` (``openat``), so a link anywhere on the way
is refused, not followed, and what is checked is what is read.

:func:`step_may` tells whether a step running as a given uid (no supplementary groups, gid =
uid) could itself pass or read an entry, from its owner and mode: the stack never reads for
a step what the step could not read.
"""

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# directories only passed through: O_PATH needs no read permission (an execute-only parent,
# 0711, is passable as by path), still refuses a link (ENOTDIR) and serves fstat and *at calls
PASS_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
CHUNK = 1 << 20


class UnsafePath(OSError):
    """A path cannot be used as asked (a link on the way, outside the allowed place, not a
    regular file, too large...): the message says which rule."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def step_may(st: os.stat_result, uid: int | None, want: int) -> bool:
    """Whether a step running as ``uid`` (gid = uid, no other group) may ``want`` (an
    ``os.R_OK | os.X_OK`` mask) on the entry ``st``. ``uid`` None: the step is the stack's
    own user (single-user stack), who may do what the stack may."""
    if uid is None:
        return True
    if st.st_uid == uid:
        shift = 6
    elif st.st_gid == uid:
        shift = 3
    else:
        shift = 0
    bits = (st.st_mode >> shift) & 0o7
    return (bits & want) == want


def split_absolute(path: str | Path) -> list[str]:
    """The components of an absolute path, ``.`` dropped; ``..`` is refused (lexical)."""
    text = str(path)
    if not text.startswith("/"):
        raise UnsafePath(f"'{text}' is not an absolute path")
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafePath(f"'{text}' contains '..'")
    return parts


def is_within(path: str | Path, root: str | Path) -> bool:
    """Lexically: ``path`` is ``root`` or below it (both absolute, normalized here)."""
    p, r = posixpath.normpath(str(path)), posixpath.normpath(str(root))
    return p == r or p.startswith(r.rstrip("/") + "/")


def _refusal(name: str, shown: str, exc: OSError) -> UnsafePath:
    import errno

    if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
        return UnsafePath(
            f"'{shown}' passes through a symbolic link or a non-directory at"
            f" '{name}' (links are not followed)"
        )
    if exc.errno == errno.ENOENT:
        return UnsafePath(f"'{shown}': no such file or directory")
    if exc.errno == errno.EACCES:
        return UnsafePath(f"'{shown}': permission denied")
    return UnsafePath(f"'{shown}': {exc.strerror or exc}")


def open_dir(path: str | Path, uid: int | None = None, base: str | Path | None = None) -> int:
    """A file descriptor of directory ``path``, reached without following links. ``base``:
    a trusted directory ``path`` must lie in (opened as it is; the walk starts there; the step
    is known to reach it, e.g. its run's directory bound into its sandbox). ``uid``: every
    directory after ``base`` must be passable by a step of that uid, the file readable."""
    return _walk(path, uid, base, final_dir=True)


def open_file(path: str | Path, uid: int | None = None, base: str | Path | None = None) -> int:
    """A read-only file descriptor of the regular file ``path`` (see :func:`open_dir`)."""
    return _walk(path, uid, base, final_dir=False)


def _start(path: str | Path, base: str | Path | None) -> tuple[int, list[str]]:
    """A descriptor of where the walk to ``path`` starts (``base``, trusted and followed, or
    ``/``) and the names left to walk from there; ``path`` outside ``base`` is refused."""
    parts = split_absolute(path)
    if base is None:
        return os.open("/", DIR_FLAGS), parts
    base_parts = split_absolute(base)
    if parts[: len(base_parts)] != base_parts:
        raise UnsafePath(f"'{path}' is outside '{base}'")
    return os.open(str(base), DIR_FLAGS & ~os.O_NOFOLLOW), parts[len(base_parts) :]


def _walk(path: str | Path, uid: int | None, base: str | Path | None, final_dir: bool) -> int:
    shown = str(path)
    fd, parts = _start(path, base)
    try:
        for index, name in enumerate(parts):
            last = index == len(parts) - 1
            flags = (FILE_FLAGS if not final_dir else DIR_FLAGS) if last else PASS_FLAGS
            try:
                nxt = os.open(name, flags, dir_fd=fd)
            except OSError as exc:
                raise _refusal(name, shown, exc) from None
            os.close(fd)
            fd = nxt
            st = os.fstat(fd)
            if last and not final_dir and not stat.S_ISREG(st.st_mode):
                raise UnsafePath(f"'{shown}' is not a regular file")
            want = os.R_OK if (last and not final_dir) else os.X_OK
            if uid is not None and not step_may(st, uid, want):
                raise UnsafePath(f"'{shown}': the step's user may not read '{name}'")
        return fd
    except BaseException:
        os.close(fd)
        raise


def open_any(
    path: str | Path, uid: int | None = None, base: str | Path | None = None
) -> tuple[int, bool]:
    """``(fd, is_dir)`` for a directory or a regular file at ``path``."""
    try:
        return open_dir(path, uid, base), True
    except UnsafePath:
        return open_file(path, uid, base), False


@dataclass
class Budget:
    """Bounds of one copy: bytes and entries; exceeding either raises UnsafePath."""

    max_bytes: int
    max_entries: int = 100_000
    bytes: int = 0
    entries: int = 0

    def take(self, size: int, what: str) -> None:
        self.bytes += size
        self.entries += 1
        if self.bytes > self.max_bytes:
            raise UnsafePath(f"{what} is larger than {self.max_bytes} bytes")
        if self.entries > self.max_entries:
            raise UnsafePath(f"{what} has more than {self.max_entries} entries")


@contextmanager
def closing_fd(fd: int) -> Iterator[int]:
    try:
        yield fd
    finally:
        os.close(fd)


def make_dirs(path: str | Path, base: str | Path | None = None, mode: int = 0o755) -> int:
    """Create ``path`` (and missing parents) without following links; its fd."""
    fd, parts = _start(path, base)
    try:
        for index, name in enumerate(parts):
            try:
                os.mkdir(name, mode, dir_fd=fd)
            except FileExistsError:
                pass
            flags = DIR_FLAGS if index == len(parts) - 1 else PASS_FLAGS
            try:
                nxt = os.open(name, flags, dir_fd=fd)
            except OSError as exc:
                raise _refusal(name, str(path), exc) from None
            os.close(fd)
            fd = nxt
        return fd
    except BaseException:
        os.close(fd)
        raise


def clear_entry(dir_fd: int, name: str) -> None:
    """Remove ``name`` in ``dir_fd`` whatever it is (a link itself, never its target)."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        import shutil

        shutil.rmtree(name, dir_fd=dir_fd)
    else:
        os.unlink(name, dir_fd=dir_fd)


def copy_fd_to(src_fd: int, dst_dir_fd: int, name: str, budget: Budget, what: str) -> None:
    """Copy the open regular file ``src_fd`` to a new file ``name`` in ``dst_dir_fd``."""
    size = os.fstat(src_fd).st_size
    budget.take(size, what)
    out = os.open(name, NEW_FILE_FLAGS, 0o644, dir_fd=dst_dir_fd)
    try:
        written = 0
        while True:
            block = os.read(src_fd, CHUNK)
            if not block:
                break
            written += len(block)
            if written > size:  # grew while copied: count what is written
                budget.take(len(block), what)
            view = memoryview(block)
            while view:
                view = view[os.write(out, view) :]
    finally:
        os.close(out)


LINKS_REFUSE = "refuse"  # any link in the source is an error
LINKS_INSIDE = "inside"  # links whose target stays inside the copied tree are kept as links


def copy_tree(
    src_fd: int,
    dst_dir_fd: int,
    name: str,
    budget: Budget,
    what: str,
    links: str = LINKS_REFUSE,
    uid: int | None = None,
    _depth: tuple[str, ...] = (),
) -> None:
    """Copy the open directory ``src_fd`` into a new directory ``name`` of ``dst_dir_fd``,
    reading every entry by fd without following links. ``uid``: entries the step of that
    uid could not read are refused."""
    os.mkdir(name, 0o755, dir_fd=dst_dir_fd)
    with closing_fd(os.open(name, DIR_FLAGS, dir_fd=dst_dir_fd)) as out:
        with os.scandir(src_fd) as entries:
            listing = sorted(entries, key=lambda e: e.name)
        for entry in listing:
            shown = "/".join((*_depth, entry.name))
            st = os.stat(entry.name, dir_fd=src_fd, follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                target = os.readlink(entry.name, dir_fd=src_fd)
                if links == LINKS_INSIDE and _link_stays_inside(target, _depth):
                    budget.take(0, what)
                    os.symlink(target, entry.name, dir_fd=out)
                    continue
                raise UnsafePath(
                    f"{what}: '{shown}' is a symbolic link to '{target}' (links are not followed)"
                )
            if stat.S_ISDIR(st.st_mode):
                flags = DIR_FLAGS
            elif stat.S_ISREG(st.st_mode):
                flags = FILE_FLAGS
            else:
                raise UnsafePath(f"{what}: '{shown}' is neither a file nor a directory")
            try:
                fd = os.open(entry.name, flags, dir_fd=src_fd)
            except OSError as exc:
                raise _refusal(entry.name, shown, exc) from None
            with closing_fd(fd):
                opened = os.fstat(fd)
                want = os.R_OK | (os.X_OK if stat.S_ISDIR(opened.st_mode) else 0)
                if uid is not None and not step_may(opened, uid, want):
                    raise UnsafePath(f"{what}: the step's user may not read '{shown}'")
                if stat.S_ISDIR(opened.st_mode):
                    budget.take(0, what)
                    copy_tree(fd, out, entry.name, budget, what, links, uid, (*_depth, entry.name))
                else:
                    copy_fd_to(fd, out, entry.name, budget, what)


def _link_stays_inside(target: str, depth: tuple[str, ...]) -> bool:
    if target.startswith("/"):
        return False
    level = len(depth)
    for part in target.split("/"):
        if part == "..":
            level -= 1
            if level < 0:
                return False
        elif part not in ("", "."):
            level += 1
    return True


def copy_path(
    source: str | Path,
    target: str | Path,
    budget: Budget,
    what: str,
    links: str = LINKS_REFUSE,
    uid: int | None = None,
    source_base: str | Path | None = None,
    target_base: str | Path | None = None,
) -> None:
    """Copy the file or directory ``source`` to ``target`` (replaced if present; merged
    never), both walked without following links."""
    src_fd, is_dir = open_any(source, uid, source_base)
    with closing_fd(src_fd):
        parts = split_absolute(target)
        parent = "/" + "/".join(parts[:-1])
        with closing_fd(make_dirs(parent, target_base)) as dst_dir:
            clear_entry(dst_dir, parts[-1])
            if is_dir:
                copy_tree(src_fd, dst_dir, parts[-1], budget, what, links, uid)
            else:
                copy_fd_to(src_fd, dst_dir, parts[-1], budget, what)


def read_range(fd: int, start: int, length: int, chunk: int = CHUNK) -> Iterator[bytes]:
    """``length`` bytes of the open file from ``start`` (fewer if it shrank)."""
    left, position = length, start
    while left > 0:
        data = os.pread(fd, min(chunk, left), position)
        if not data:
            return
        left -= len(data)
        position += len(data)
        yield data
