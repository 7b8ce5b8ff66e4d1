"""Reading a run's files: task logs by byte offset, artifacts as gzipped tarballs."""

from __future__ import annotations

import io
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

from jupyter_dsp.stack.runner import nofollow

MAX_LOG_CHUNK = 1024 * 1024
MAX_ARTIFACT_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class LogChunk:
    data: bytes
    next_offset: int
    size: int  # the file's size when read


def read_log(path: Path, offset: int, limit: int = MAX_LOG_CHUNK) -> LogChunk:
    """Up to ``limit`` bytes of the log from ``offset`` (an absent log is empty)."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if offset >= size:
                return LogChunk(b"", offset, size)
            f.seek(offset)
            data = f.read(min(limit, size - offset))
    except FileNotFoundError:
        return LogChunk(b"", offset, 0)
    return LogChunk(data, offset + len(data), size)


class ArtifactError(Exception):
    """The artifact cannot be served (the message says why)."""


def artifact_tarball(uri: str, run_dir: Path) -> bytes:
    """The artifact at ``uri`` (a file or a directory inside ``run_dir``) as a .tar.gz.
    Read without following links (a step may swap its output for one after its run):
    a link on the way is refused, links inside a directory are left out."""
    from jupyter_dsp.stack.results import contained_path
    from jupyter_dsp.stack.results_read import tar_plan

    path = contained_path(uri, run_dir)
    if path is None:
        raise ArtifactError(
            "the artifact has no content (the step did not write it), is outside the run's "
            "directory, or is reached through a symbolic link"
        )
    try:
        fd, is_dir = nofollow.open_any(str(path))
        with nofollow.closing_fd(fd):
            if is_dir:
                plan = tar_plan(path)
                members = [(m.path, m.size) for m in plan.members if m.path is not None]
            else:
                members = [(path, os.fstat(fd).st_size)]
        if sum(size for _p, size in members) > MAX_ARTIFACT_BYTES:
            raise ArtifactError(f"the artifact is larger than {MAX_ARTIFACT_BYTES} bytes")
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            if is_dir:
                for member in plan.members:
                    _add(tar, _header_info(member.header), member.path, member.size)
            else:
                info = tarfile.TarInfo(path.name)
                info.mode = 0o644
                _add(tar, info, path, members[0][1])
    except OSError as exc:
        raise ArtifactError(f"the artifact cannot be read: {exc}") from None
    return buffer.getvalue()


def _header_info(header: bytes) -> tarfile.TarInfo:
    """The entry a tar header (PAX records included) describes."""
    with tarfile.open(fileobj=io.BytesIO(header + bytes(3 * tarfile.BLOCKSIZE))) as one:
        info = one.next()
    assert info is not None
    return info


def _add(tar: tarfile.TarFile, info: tarfile.TarInfo, path: Path | None, size: int) -> None:
    from jupyter_dsp.stack.results_read import iter_file

    if path is None:
        tar.addfile(info)
        return
    data = b"".join(iter_file(path, 0, size))
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))
