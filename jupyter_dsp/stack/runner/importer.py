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
"""

from __future__ import annotations

import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

HTTP_TIMEOUT = 60  # seconds without data before an http(s) import gives up
CHUNK = 1 << 20


class ImporterError(Exception):
    """The artifact could not be imported (the message says why)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def import_artifact(uri: str, dest: Path, metadata: dict[str, Any] | None = None) -> Path:
    """Import the artifact at ``uri`` into ``dest`` (a file, or a directory for a folder or
    an S3 prefix) and return ``dest``. ``metadata`` is the importer's metadata; it does not
    change how the bytes are fetched."""
    del metadata
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    scheme = urlparse(uri).scheme.lower() if "://" in uri else ""
    if scheme in ("", "file"):
        _import_local(uri, dest)
    elif scheme in ("http", "https"):
        _import_http(uri, dest)
    elif scheme in ("s3", "minio"):
        _import_s3(uri, dest)
    else:
        raise ImporterError(
            f"cannot import '{uri}': the embedded stack imports local paths, file://, "
            "http(s):// and s3:// URIs"
        )
    return dest


def _import_local(uri: str, dest: Path) -> None:
    source = Path(unquote(urlparse(uri).path)) if uri.startswith("file://") else Path(uri)
    source = source.expanduser()
    if not source.exists():
        raise ImporterError(f"cannot import '{uri}': no such file or directory")
    try:
        if source.is_dir():
            shutil.copytree(source, dest, dirs_exist_ok=True)
        else:
            shutil.copyfile(source, dest)
    except OSError as exc:
        raise ImporterError(f"cannot import '{uri}': {exc.strerror or exc}") from exc


def _import_http(uri: str, dest: Path) -> None:
    partial = dest.with_name(dest.name + ".part")
    request = urllib.request.Request(uri, headers={"User-Agent": "jupyter-dsp importer"})
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
            with open(partial, "wb") as out:
                shutil.copyfileobj(response, out, CHUNK)
    except urllib.error.HTTPError as exc:
        partial.unlink(missing_ok=True)
        raise ImporterError(f"cannot import '{uri}': HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        partial.unlink(missing_ok=True)
        reason = getattr(exc, "reason", None) or exc
        raise ImporterError(f"cannot import '{uri}': {reason}") from exc
    os.replace(partial, dest)


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
            partial = dest.with_name(dest.name + ".part")
            client.download_file(bucket, key, str(partial))
            os.replace(partial, dest)
            return
        prefix = key.rstrip("/") + "/" if key else ""
        for name in keys:
            relative = name[len(prefix) :]
            if not relative or relative.endswith("/"):
                continue
            target = dest / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            client.download_file(bucket, name, str(target))
    except ClientError as exc:
        error = exc.response.get("Error", {})
        reason = f"{error.get('Code', 'error')}: {error.get('Message') or exc}"
        raise ImporterError(f"cannot import '{uri}': {reason}") from exc
    except BotoCoreError as exc:
        raise ImporterError(f"cannot import '{uri}': {exc}") from exc


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
