"""Reading a run's files: task logs by byte offset, artifacts as gzipped tarballs."""

from __future__ import annotations

import io
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

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
    """The artifact at ``uri`` (a file or a directory inside ``run_dir``) as a .tar.gz."""
    path = Path(uri.removeprefix("file://"))
    try:
        resolved = path.resolve(strict=True)
    except (OSError, RuntimeError):
        raise ArtifactError("the artifact has no content (the step did not write it)") from None
    if not resolved.is_relative_to(run_dir.resolve()):
        raise ArtifactError("the artifact is outside the run's directory")
    total = 0
    files = [resolved] if resolved.is_file() else sorted(p for p in resolved.rglob("*"))
    for p in files:
        if p.is_file():
            total += p.stat().st_size
    if total > MAX_ARTIFACT_BYTES:
        raise ArtifactError(f"the artifact is larger than {MAX_ARTIFACT_BYTES} bytes")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(str(resolved), arcname=resolved.name, recursive=True)
    return buffer.getvalue()
