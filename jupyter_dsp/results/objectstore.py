"""Artifact bytes from S3-compatible object storage (``s3://`` and ``minio://`` URIs), in the
Jupyter server only: the browser gets bytes, never credentials.

Credentials and endpoint, in the order a workbench has them:

- the pipeline server's own storage from the Open Data Hub runtime file
  (``/opt/app-root/runtimes/*.json``: ``cos_endpoint``, ``cos_bucket``, ``cos_username``,
  ``cos_password``, which the notebook controller copies from the DSPA's storage secret), for
  that bucket, and for any bucket when no data connection is attached;
- the data connection variables ``AWS_S3_ENDPOINT``, ``AWS_ACCESS_KEY_ID``,
  ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION`` (``AWS_S3_BUCKET`` is that connection's
  bucket; an artifact's URI names its own);
- on Kubeflow, when neither names credentials: the profile namespace's
  ``mlpipeline-minio-artifact`` Secret, read as KFP's launcher reads it
  (:mod:`jupyter_dsp.results.storage_credentials`, given here as ``fallback``);
- otherwise boto3's own configuration (``AWS_ENDPOINT_URL_S3``/``AWS_ENDPOINT_URL``,
  ``AWS_PROFILE``, ``~/.aws/credentials``, ...).

Reads are streamed in chunks and ranged (``Range: bytes=a-b``); sizes come from ``HEAD``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from jupyter_dsp.common.runtime_files import runtime_metadata

SCHEMES = ("s3", "minio")
CHUNK = 256 * 1024
DEFAULT_RUNTIMES_DIR = "/opt/app-root/runtimes"
COS_KEYS = ("cos_endpoint", "cos_bucket", "cos_username", "cos_password")
LIST_LIMIT = 100_000  # objects of one directory artifact


class ObjectStoreError(Exception):
    def __init__(self, message: str, status: int = 502) -> None:
        self.status = status
        super().__init__(message)


@dataclass
class ObjectInfo:
    size: int
    content_type: str | None
    etag: str | None


@dataclass
class ObjectEntry:
    """One object under a directory's prefix: its URI, its name below the prefix, its size."""

    uri: str
    name: str
    size: int
    mtime: int


@dataclass
class ObjectRead:
    """An open (possibly ranged) read: iterate ``chunks``; ``close()`` when stopping early."""

    size: int  # the whole object's size
    start: int
    end: int  # inclusive
    content_type: str | None
    chunks: Iterator[bytes]
    _body: Any = None

    @property
    def length(self) -> int:
        return self.end - self.start + 1 if self.size else 0

    def close(self) -> None:
        if self._body is not None:
            self._body.close()


def split_uri(uri: str) -> tuple[str, str]:
    parts = urlsplit(uri)
    if parts.scheme not in SCHEMES or not parts.netloc:
        raise ObjectStoreError(
            f"artifact URI {uri!r} is not in S3-compatible storage (s3:// or minio://): "
            "jupyter-dsp reads only those",
            status=501,
        )
    return parts.netloc, parts.path.lstrip("/")


@dataclass
class StorageProfile:
    """How to reach one object store: boto3 client arguments and, for messages, where the
    endpoint and its credentials came from (never the credentials themselves)."""

    where: str
    kwargs: dict[str, Any]
    bucket: str | None = None  # the pipeline server's own bucket (runtime file)


def runtime_storage(runtimes_dir: str) -> dict[str, str] | None:
    """The pipeline server's object storage from the Open Data Hub runtime file
    (``cos_endpoint``, ``cos_bucket``, ``cos_username``, ``cos_password``), if mounted."""
    for path, meta in runtime_metadata(runtimes_dir):
        if meta.get("cos_endpoint") and meta.get("cos_username"):
            return {k: str(meta.get(k) or "") for k in COS_KEYS} | {"path": path}
    return None


class ObjectStore:
    """boto3 S3 clients configured from the workbench: its data connection (``AWS_*``), the
    pipeline server's storage in the Open Data Hub runtime file (used for that bucket, and for
    any bucket when no data connection is attached), else ``fallback`` (called once, when a
    read first needs it; it raises ObjectStoreError saying what is missing), else boto3's own
    configuration."""

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        timeout: float = 10.0,
        runtimes_dir: str | None = None,
        fallback: Callable[[], StorageProfile] | None = None,
    ) -> None:
        from botocore.config import Config  # type: ignore[import-untyped]

        env = os.environ if environ is None else environ
        self._config = Config(
            connect_timeout=timeout,
            read_timeout=max(timeout, 30.0),
            retries={"max_attempts": 2, "mode": "standard"},
            s3={"addressing_style": "path"},
        )
        common: dict[str, Any] = {}
        region = env.get("AWS_DEFAULT_REGION") or env.get("AWS_REGION")
        if region:
            common["region_name"] = region
        verify = env.get("AWS_CA_BUNDLE") or env.get("REQUESTS_CA_BUNDLE") or None
        if verify:
            common["verify"] = verify
        self.endpoint = env.get("AWS_S3_ENDPOINT") or None
        self._env: StorageProfile | None = None
        if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
            kwargs = dict(
                common,
                aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            )
            if self.endpoint:
                kwargs["endpoint_url"] = self.endpoint
            where = self.endpoint or env.get("AWS_ENDPOINT_URL_S3") or "AWS S3"
            self._env = StorageProfile(f"{where} (data connection AWS_*)", kwargs)
        rdir = runtimes_dir or env.get("JUPYTER_DSP_RUNTIMES_DIR") or DEFAULT_RUNTIMES_DIR
        cos = runtime_storage(rdir)
        self._runtime: StorageProfile | None = None
        if cos:
            kwargs = dict(
                common,
                endpoint_url=cos["cos_endpoint"],
                aws_access_key_id=cos["cos_username"],
                aws_secret_access_key=cos["cos_password"],
            )
            where = f"{cos['cos_endpoint']} (pipeline server storage, {cos['path']})"
            self._runtime = StorageProfile(where, kwargs, bucket=cos["cos_bucket"] or None)
        default_where = self.endpoint or env.get("AWS_ENDPOINT_URL_S3") or "AWS S3"
        self._default = StorageProfile(f"{default_where} (boto3 configuration)", dict(common))
        self._common = common
        self._fallback = fallback
        self._fallen_back: StorageProfile | None = None
        self._clients: dict[int, Any] = {}

    def _profile(self, bucket: str) -> StorageProfile:
        if self._runtime and (self._runtime.bucket == bucket or self._env is None):
            return self._runtime
        if self._env is not None:
            return self._env
        if self._fallback is not None:
            if self._fallen_back is None:
                found = self._fallback()
                found.kwargs = dict(self._common, **found.kwargs)
                self._fallen_back = found
            return self._fallen_back
        return self._default

    @property
    def where(self) -> str:
        """The endpoint and the source of its credentials, for messages."""
        try:
            return self._profile("").where
        except ObjectStoreError as exc:
            return f"object storage ({exc})"

    def _client(self, bucket: str) -> tuple[Any, str]:
        import boto3  # type: ignore[import-untyped]

        profile = self._profile(bucket)
        key = id(profile)
        if key not in self._clients:
            session = boto3.session.Session()
            self._clients[key] = session.client("s3", config=self._config, **profile.kwargs)
        return self._clients[key], profile.where

    def head(self, uri: str) -> ObjectInfo:
        bucket, key = split_uri(uri)
        client, where = self._client(bucket)
        try:
            resp = client.head_object(Bucket=bucket, Key=key)
        except Exception as exc:
            raise self._explain(exc, uri, where) from None
        return ObjectInfo(
            size=int(resp.get("ContentLength") or 0),
            content_type=resp.get("ContentType"),
            etag=resp.get("ETag"),
        )

    def size(self, uri: str) -> int | None:
        """The object's size; for a directory (objects under ``uri/``, as KFP uploads an
        artifact written as a directory) the total of its files; None when unreadable."""
        try:
            return self.head(uri).size
        except ObjectStoreError as exc:
            if exc.status != 404:
                return None
        try:
            found = self.listing(uri)
        except ObjectStoreError:
            return None
        return sum(entry.size for entry in found) if found else None

    def listing(self, uri: str, limit: int = LIST_LIMIT) -> list[ObjectEntry]:
        """The objects under ``uri`` taken as a directory (keys starting ``<key>/``), sorted by
        key; [] when there are none. More than ``limit`` objects is a 413."""
        bucket, key = split_uri(uri)
        scheme = urlsplit(uri).scheme
        prefix = key.rstrip("/") + "/"
        client, where = self._client(bucket)
        found: list[ObjectEntry] = []
        try:
            pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for page in pages:
                for obj in page.get("Contents") or []:
                    name = str(obj["Key"])[len(prefix) :]
                    if not name or name.endswith("/"):
                        continue  # the folder markers some tools write
                    modified = obj.get("LastModified")
                    found.append(
                        ObjectEntry(
                            uri=f"{scheme}://{bucket}/{obj['Key']}",
                            name=name,
                            size=int(obj.get("Size") or 0),
                            mtime=int(modified.timestamp()) if modified is not None else 0,
                        )
                    )
                    if len(found) > limit:
                        raise ObjectStoreError(
                            f"{uri} holds more than {limit} objects: too many to send as one tar",
                            status=413,
                        )
        except ObjectStoreError:
            raise
        except Exception as exc:
            raise self._explain(exc, uri, where) from None
        return sorted(found, key=lambda entry: entry.name)

    def sizes(self, uris: list[str], workers: int = 8) -> dict[str, int | None]:
        """HEAD each URI (concurrently); None where it cannot be read."""
        todo = sorted({u for u in uris if urlsplit(u).scheme in SCHEMES})
        if not todo:
            return {}
        with ThreadPoolExecutor(max_workers=min(workers, len(todo))) as pool:
            return dict(zip(todo, pool.map(self.size, todo), strict=True))

    def read(self, uri: str, start: int | None = None, end: int | None = None) -> ObjectRead:
        """Open ``uri`` from byte ``start`` to ``end`` (inclusive; None = to the end).
        Raises ObjectStoreError(416) for a range outside the object."""
        info = self.head(uri)
        first = 0 if start is None else start
        last = info.size - 1 if end is None else min(end, info.size - 1)
        if info.size == 0 and start is None:
            return ObjectRead(0, 0, -1, info.content_type, iter(()))
        if first < 0 or first >= info.size or last < first:
            raise ObjectStoreError(
                f"range {first}-{'' if end is None else end} is outside {uri} ({info.size} bytes)",
                status=416,
            )
        bucket, key = split_uri(uri)
        client, where = self._client(bucket)
        try:
            resp = client.get_object(Bucket=bucket, Key=key, Range=f"bytes={first}-{last}")
        except Exception as exc:
            raise self._explain(exc, uri, where) from None
        body = resp["Body"]
        return ObjectRead(
            size=info.size,
            start=first,
            end=last,
            content_type=info.content_type,
            chunks=body.iter_chunks(CHUNK),
            _body=body,
        )

    def _explain(self, exc: BaseException, uri: str, endpoint: str) -> ObjectStoreError:
        where = f"object storage {endpoint}"
        response = getattr(exc, "response", None)
        if isinstance(response, dict):
            err = response.get("Error", {}) or {}
            code = str(err.get("Code", ""))
            http = int((response.get("ResponseMetadata", {}) or {}).get("HTTPStatusCode") or 0)
            if code in ("404", "NoSuchKey", "NoSuchBucket", "NotFound") or http == 404:
                return ObjectStoreError(f"{uri} was not found in {where}", status=404)
            if code in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch") or (
                http == 403
            ):
                return ObjectStoreError(
                    f"{where} refused {uri} ({code or http}): check those credentials",
                    status=403,
                )
            return ObjectStoreError(f"{where}: {code or http} reading {uri}", status=502)
        name = type(exc).__name__
        if name == "NoCredentialsError":
            return ObjectStoreError(
                f"no object-storage credentials to read {uri}: attach a data connection to the "
                "workbench (AWS_S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) or "
                "configure boto3",
                status=503,
            )
        if "SSL" in name or "CERTIFICATE_VERIFY_FAILED" in str(exc):
            return ObjectStoreError(
                f"{where}: TLS verification failed (set AWS_CA_BUNDLE)", status=502
            )
        if name in ("EndpointConnectionError", "ConnectTimeoutError", "ConnectionClosedError"):
            return ObjectStoreError(f"{where} is unreachable ({name})", status=502)
        return ObjectStoreError(f"{where}: {name} reading {uri}", status=502)
