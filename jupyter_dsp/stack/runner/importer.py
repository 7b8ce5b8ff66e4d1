"""Importer steps (``dsl.importer``): bring the artifact at a URI to the run's local file.

On a cluster the importer only records the URI in MLMD and the consuming step's launcher
downloads it; locally the consuming step reads files, so the engine imports the artifact into
the path it gives the output artifact. Supported:

- a local path or ``file://`` URI (a file or a directory, copied);
- ``http://`` and ``https://`` (streamed to the file);
- ``s3://bucket/key`` (a key, or a prefix holding several objects) with boto3. Credentials are
  boto3's usual ones (``AWS_ACCESS_KEY_ID`` ...); the endpoint of an S3-compatible store is
  ``AWS_S3_ENDPOINT`` (an Open Data Hub data connection) or ``AWS_ENDPOINT_URL``, the region
  ``AWS_DEFAULT_REGION`` / ``AWS_REGION``. ``minio://`` URIs are read the same way.

Anything else, or a source that cannot be read, raises :class:`ImporterError` with the reason.

Local paths are read for a step, so with no more rights than the step (:class:`ImportPolicy`):
only under the stack's import roots (none by default on a multi-user stack, the working
directory on a single-user one), never in the stack's data dir or a service-account token
directory, every component opened without following links, and, when steps run as their
own user, only what that user could read itself. The destination, in the step's own output
directory, is written without following links too.
"""

from __future__ import annotations

import os
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from jupyter_dsp.stack.runner import nofollow
from jupyter_dsp.stack.runner.run_context import SECRET_DIRS, current_run

HTTP_TIMEOUT = 60  # seconds without data before an http(s) import gives up
CHUNK = 1 << 20
MAX_LOCAL_BYTES = 64 * 1024**3  # a local import copies at most this much


@dataclass(frozen=True)
class ImportPolicy:
    """Where local-path importers may read, and as whom.

    ``roots``: the allowed directories (None: anywhere; a library call, not for a step).
    ``forbidden``: never read, whatever the roots. ``uid``: the step's own user id (None:
    steps run as the stack's user); only what it could read is imported. ``multi_user``:
    for the error message."""

    roots: tuple[str, ...] | None
    forbidden: tuple[str, ...] = SECRET_DIRS
    uid: int | None = None
    multi_user: bool = False
    max_bytes: int = MAX_LOCAL_BYTES
    own: str | None = None  # the run's own directory: readable (as the step) though inside

    @classmethod
    def for_current_run(cls) -> ImportPolicy:
        run = current_run()
        if run is None:
            return cls(roots=None)
        roots = (*run.import_roots, str(run.run_dir))
        return cls(roots, run.forbidden, run.uid, run.multi_user, own=str(run.run_dir))


class ImporterError(Exception):
    """The artifact could not be imported (the message says why)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def import_artifact(
    uri: str,
    dest: Path,
    metadata: dict[str, Any] | None = None,
    policy: ImportPolicy | None = None,
) -> Path:
    """Import the artifact at ``uri`` into ``dest`` (a file, or a directory for a folder or
    an S3 prefix) and return ``dest``. ``metadata`` is the importer's metadata; it does not
    change how the bytes are fetched. ``policy``: where local paths may be read (default:
    the current run's, see :class:`ImportPolicy`)."""
    del metadata
    dest = Path(os.path.abspath(dest))
    try:
        os.close(nofollow.make_dirs(dest.parent))
    except OSError as exc:
        raise ImporterError(f"cannot import '{uri}': the destination: {exc}") from exc
    scheme = urlparse(uri).scheme.lower() if "://" in uri else ""
    if scheme not in ("", "file", "http", "https", "s3", "minio"):
        raise ImporterError(
            f"cannot import '{uri}': the embedded stack imports local paths, file://, "
            "http(s):// and s3:// URIs"
        )
    try:
        if scheme in ("", "file"):
            _import_local(uri, dest, policy or ImportPolicy.for_current_run())
        elif scheme in ("http", "https"):
            _import_http(uri, dest)
        else:
            _import_s3(uri, dest)
    except nofollow.UnsafePath as exc:  # writing the destination
        raise ImporterError(f"cannot import '{uri}': {exc}") from exc
    return dest


def _import_local(uri: str, dest: Path, policy: ImportPolicy) -> None:
    text = unquote(urlparse(uri).path) if uri.startswith("file://") else os.path.expanduser(uri)
    if not os.path.isabs(text):
        if not policy.roots:
            raise ImporterError(f"cannot import '{uri}': a local path must be absolute")
        text = os.path.join(policy.roots[0], text)
    try:
        nofollow.split_absolute(text)  # no '..'
    except nofollow.UnsafePath as exc:
        raise ImporterError(f"cannot import '{uri}': {exc}") from None
    source = os.path.normpath(text)
    base = _allowed_root(uri, source, policy)
    try:
        nofollow.copy_path(
            source,
            dest,
            nofollow.Budget(policy.max_bytes),
            f"'{uri}'",
            nofollow.LINKS_REFUSE,
            policy.uid,
            source_base=base,
        )
    except OSError as exc:
        raise ImporterError(f"cannot import '{uri}': {exc}") from exc


def _allowed_root(uri: str, source: str, policy: ImportPolicy) -> str | None:
    """The import root ``source`` lies in (None: any place), or ImporterError naming the rule.
    Below the root nothing is followed, so the real place is the root's real path + the rest."""
    if policy.roots is None:
        found: str | None = None
        real = source
    else:
        ordered = sorted(policy.roots, key=lambda r: r != policy.own)  # its own run first
        found = next((r for r in ordered if nofollow.is_within(source, r)), None)
        if found is None:
            real_roots = [(r, os.path.realpath(r)) for r in policy.roots]
            found = next((r for r, rr in real_roots if nofollow.is_within(source, rr)), None)
            if found is not None:
                found = os.path.realpath(found)
        if found is None:
            named = [r for r in policy.roots if r != policy.own]
            where = ", ".join(named) or (
                "none on a multi-user stack" if policy.multi_user else "none"
            )
            raise ImporterError(
                f"cannot import '{uri}': local paths are imported only from the stack's import "
                f"roots ({where}; set them with --import-root or DSPSettings.step_import_roots)"
            )
        rest = os.path.relpath(source, found)
        real = os.path.normpath(os.path.join(os.path.realpath(found), rest))
    if policy.own is not None and found == policy.own:
        return found  # the run's own files (an upstream step's output), read as the step
    for forbidden in policy.forbidden:
        if nofollow.is_within(real, forbidden) or nofollow.is_within(
            real, os.path.realpath(forbidden)
        ):
            raise ImporterError(
                f"cannot import '{uri}': the stack's data dir and service-account token "
                "directories are never imported from"
            )
    return found


class _NewFile:
    """A new file ``name`` in an open directory, created without following links and put in
    place of ``dest`` (whatever was there) by :meth:`commit`."""

    def __init__(self, dest: Path) -> None:
        self.dir_fd = nofollow.make_dirs(dest.parent)
        self.name = dest.name
        self.partial = dest.name + ".part"
        nofollow.clear_entry(self.dir_fd, self.partial)
        fd = os.open(self.partial, nofollow.NEW_FILE_FLAGS, 0o644, dir_fd=self.dir_fd)
        self.file = os.fdopen(fd, "wb")

    def commit(self) -> None:
        self.file.close()
        nofollow.clear_entry(self.dir_fd, self.name)
        os.rename(self.partial, self.name, src_dir_fd=self.dir_fd, dst_dir_fd=self.dir_fd)
        os.close(self.dir_fd)

    def discard(self) -> None:
        self.file.close()
        try:
            os.unlink(self.partial, dir_fd=self.dir_fd)
        except OSError:
            pass
        os.close(self.dir_fd)


def _import_http(uri: str, dest: Path) -> None:
    request = urllib.request.Request(uri, headers={"User-Agent": "jupyter-dsp importer"})
    out = _NewFile(dest)
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
            shutil.copyfileobj(response, out.file, CHUNK)
    except urllib.error.HTTPError as exc:
        out.discard()
        raise ImporterError(f"cannot import '{uri}': HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        out.discard()
        reason = getattr(exc, "reason", None) or exc
        raise ImporterError(f"cannot import '{uri}': {reason}") from exc
    out.commit()


def s3_client() -> Any:
    """A boto3 S3 client configured from the environment (data-connection variables too)."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError as exc:
        raise ImporterError("importing s3:// artifacts needs boto3 (pip install boto3)") from exc
    endpoint = os.environ.get("AWS_S3_ENDPOINT") or os.environ.get("AWS_ENDPOINT_URL") or None
    region = os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or None
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        config=Config(retries={"max_attempts": 3}, connect_timeout=10, read_timeout=60),
    )


def _import_s3(uri: str, dest: Path) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    parsed = urlparse(uri)
    bucket, key = parsed.netloc, parsed.path.lstrip("/")
    if not bucket:
        raise ImporterError(f"cannot import '{uri}': the URI names no bucket")
    client = s3_client()
    try:
        keys = _keys_under(client, bucket, key)
        if not keys:
            raise ImporterError(f"cannot import '{uri}': no object with that key or prefix")
        if keys == [key]:
            _download(client, bucket, key, dest)
            return
        prefix = key.rstrip("/") + "/" if key else ""
        for name in keys:
            relative = name[len(prefix) :]
            if not relative or relative.endswith("/"):
                continue
            target = Path(os.path.normpath(dest / relative))
            if not nofollow.is_within(target, dest):
                continue  # a key with '..' in it: not below the destination
            _download(client, bucket, name, target)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        reason = f"{error.get('Code', 'error')}: {error.get('Message') or exc}"
        raise ImporterError(f"cannot import '{uri}': {reason}") from exc
    except BotoCoreError as exc:
        raise ImporterError(f"cannot import '{uri}': {exc}") from exc


def _download(client: Any, bucket: str, key: str, target: Path) -> None:
    out = _NewFile(target)
    try:
        client.download_fileobj(bucket, key, out.file)
    except BaseException:
        out.discard()
        raise
    out.commit()


def _keys_under(client: Any, bucket: str, key: str) -> list[str]:
    """``[key]`` when the key is an object, else every key under ``key/``."""
    from botocore.exceptions import ClientError

    if key and not key.endswith("/"):
        try:
            client.head_object(Bucket=bucket, Key=key)
            return [key]
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code not in ("404", "NoSuchKey", "NotFound"):
                raise
    prefix = key.rstrip("/") + "/" if key else ""
    found: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        found.extend(obj["Key"] for obj in page.get("Contents") or [])
    return found
