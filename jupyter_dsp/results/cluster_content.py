"""An artifact's bytes on a cluster, for the server extension and the kernel alike: the artifact
is found in ML Metadata (checked to belong to the run), its bytes in object storage.

An artifact written as a directory is, in S3, not one object but the objects under
``<uri>/``; it is sent like the embedded stack sends a directory: an uncompressed POSIX tar
built on the fly, whose exact size is known before the first byte (a ``Content-Length``, and
ranges that cut it like a file). Its ``size`` in the document is the total of its files (as
on the stack); the tar's own size is :attr:`ClusterArtifact.size`.
"""

from __future__ import annotations

import tarfile
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from jupyter_dsp.connection.model import Connection
from jupyter_dsp.connection.settings import DSPSettings
from jupyter_dsp.results.cluster import endpoint_for
from jupyter_dsp.results.mlmd.errors import MLMDError
from jupyter_dsp.results.mlmd.reader import MLMDReader
from jupyter_dsp.results.objectstore import ObjectEntry, ObjectStore, ObjectStoreError
from jupyter_dsp.results.storage_credentials import object_store

BLOCK = tarfile.BLOCKSIZE  # 512
TAR_TYPE = "application/x-tar"


def _padded(n: int) -> int:
    return (n + BLOCK - 1) // BLOCK * BLOCK


@dataclass
class _Member:
    header: bytes
    entry: ObjectEntry | None  # None: a directory entry


@dataclass
class ContentRead:
    """An open read: iterate ``chunks``; ``close()`` when stopping early."""

    chunks: Iterator[bytes]
    _close: Any = None

    def close(self) -> None:
        if self._close is not None:
            self._close()


@dataclass
class ClusterArtifact:
    artifact: dict[str, Any]  # as in the results document, ``size`` filled
    uri: str
    size: int  # bytes a whole read gives: the object's size, or the directory's tar's
    content_type: str | None
    filename: str  # for Content-Disposition (``<name>.tar`` for a directory)
    store: ObjectStore = field(repr=False)
    members: list[_Member] | None = field(default=None, repr=False)  # a directory's tar

    @property
    def is_directory(self) -> bool:
        return self.members is not None

    def read(self, start: int, length: int) -> ContentRead:
        """Bytes ``start`` .. ``start + length - 1`` of the whole read."""
        if length <= 0:
            return ContentRead(iter(()))
        if self.members is None:
            opened = self.store.read(self.uri, start, start + length - 1)
            return ContentRead(opened.chunks, opened.close)
        chunks = self._tar(start, length)
        return ContentRead(chunks, chunks.close)

    def _tar(self, start: int, length: int) -> Generator[bytes, None, None]:
        end = start + length
        position = 0

        def window(size: int) -> tuple[int, int]:  # the wanted part of [position, +size)
            return max(start, position) - position, min(end, position + size) - position

        for member in self.members or []:
            lo, hi = window(len(member.header))
            if lo < hi:
                yield member.header[lo:hi]
            position += len(member.header)
            size = member.entry.size if member.entry else 0
            lo, hi = window(_padded(size))
            if member.entry is not None and lo < hi:
                sent = 0
                if lo < size:
                    opened = self.store.read(member.entry.uri, lo, min(hi, size) - 1)
                    try:
                        for data in opened.chunks:
                            data = data[: min(hi, size) - lo - sent]
                            sent += len(data)
                            yield data
                    finally:
                        opened.close()
                if hi - lo - sent > 0:  # padding (and zeros for a file that shrank)
                    yield bytes(hi - lo - sent)
            position += _padded(size)
            if position >= end:
                return
        lo, hi = window(2 * BLOCK)
        if lo < hi:
            yield bytes(hi - lo)


def _safe(name: str) -> bool:
    """A key below the prefix that extracts inside the tar's folder (no ``..``, no empty or
    ``.`` parts): others are left out of the tar."""
    return all(part not in ("", ".", "..") for part in name.split("/"))


def _tar_members(base: str, entries: list[ObjectEntry]) -> list[_Member]:
    def header(name: str, size: int, mtime: int, is_dir: bool) -> bytes:
        info = tarfile.TarInfo(name)
        info.mtime = mtime
        info.mode = 0o755 if is_dir else 0o644
        info.type = tarfile.DIRTYPE if is_dir else tarfile.REGTYPE
        info.size = 0 if is_dir else size
        return info.tobuf(tarfile.PAX_FORMAT)

    newest = max((e.mtime for e in entries), default=0)
    members = [_Member(header(base, 0, newest, True), None)]
    seen = {base}
    for entry in entries:
        parts = entry.name.split("/")
        for depth in range(1, len(parts)):  # the folders above the file, once each
            folder = "/".join([base, *parts[:depth]])
            if folder not in seen:
                seen.add(folder)
                members.append(_Member(header(folder, 0, entry.mtime, True), None))
        members.append(
            _Member(header(f"{base}/{entry.name}", entry.size, entry.mtime, False), entry)
        )
    return members


def open_cluster_artifact(
    conn: Connection,
    settings: DSPSettings,
    run_id: str,
    artifact_id: str,
    *,
    environ: Mapping[str, str] | None = None,
) -> ClusterArtifact:
    """The artifact ``artifact_id`` of run ``run_id`` (a run the KFP API has just returned to
    this identity) ready to read. Raises MLMDError or ObjectStoreError, each with a
    ``status`` and a message to show."""
    endpoint = endpoint_for(conn, settings)
    if endpoint is None:
        raise MLMDError(
            "ML Metadata: no store is known for this stack; set DSPSettings.mlmd_endpoint"
            " (JUPYTER_DSP_MLMD_ENDPOINT)",
            status=501,
        )
    with MLMDReader(endpoint, settings.connect_timeout) as reader:
        art = reader.artifact(run_id, artifact_id, conn.namespace)
    uri = str(art.get("uri") or "")
    if not uri:
        raise ObjectStoreError(f"artifact {artifact_id} has no content (no URI)", status=404)
    store = object_store(conn, settings, environ)
    name = uri.rstrip("/").rsplit("/", 1)[-1] or artifact_id
    try:
        info = store.head(uri)
    except ObjectStoreError as exc:
        if exc.status != 404:
            raise
        entries = [e for e in store.listing(uri) if _safe(e.name)]
        if not entries:
            raise
        members = _tar_members(name, entries)
        size = sum(len(m.header) + _padded(m.entry.size if m.entry else 0) for m in members)
        art["size"] = sum(e.size for e in entries)
        return ClusterArtifact(art, uri, size + 2 * BLOCK, TAR_TYPE, f"{name}.tar", store, members)
    art["size"] = info.size
    return ClusterArtifact(art, uri, info.size, info.content_type, name, store)
