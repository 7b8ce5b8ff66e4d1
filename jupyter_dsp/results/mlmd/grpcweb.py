"""A small gRPC-Web (binary, unary calls) channel for generated gRPC stubs.

Data Science Pipelines exposes ML Metadata to workbenches only as gRPC-Web: kube-rbac-proxy
(bearer token, TLS with the service CA) in front of an Envoy with the ``grpc_web`` filter, which
the Open Data Hub dashboard and the KFP UI call with ``application/grpc-web+proto``. This module
speaks that framing over HTTP/1.1, so ``MetadataStoreServiceStub(GrpcWebChannel(...))`` works
like the stub over a native ``grpc.Channel``.

Framing (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-WEB.md): the body is a sequence
of frames, one flag byte (0x80 = trailers) and a 4-byte big-endian length; the request is one
data frame; the answer is data frame(s) then one trailer frame holding ``grpc-status`` and
``grpc-message`` as HTTP header lines, or a "trailers-only" answer with those in the headers.

Why not a library: ``sonora`` (the maintained-looking Python gRPC-Web package, last release
2023) pins ``urllib3<2`` (kfp 2.17 pins urllib3 2.x) and its client takes no CA bundle.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote

import urllib3

CONTENT_TYPE = "application/grpc-web+proto"
_HEADER = struct.Struct(">BI")
TRAILER_FLAG = 0x80


class GrpcWebError(Exception):
    """A failed gRPC-Web call: an HTTP status from a proxy in front, or a gRPC status."""

    def __init__(
        self, message: str, *, http_status: int | None = None, grpc_status: int | None = None
    ) -> None:
        self.http_status = http_status
        self.grpc_status = grpc_status
        super().__init__(message)


def frame(payload: bytes, trailers: bool = False) -> bytes:
    return _HEADER.pack(TRAILER_FLAG if trailers else 0, len(payload)) + payload


def unframe(body: bytes) -> tuple[list[bytes], dict[str, str]]:
    """Split a gRPC-Web body into its data messages and its trailers."""
    messages: list[bytes] = []
    trailers: dict[str, str] = {}
    pos = 0
    while pos + _HEADER.size <= len(body):
        flags, length = _HEADER.unpack_from(body, pos)
        pos += _HEADER.size
        chunk = body[pos : pos + length]
        if len(chunk) != length:
            raise GrpcWebError(f"truncated gRPC-Web frame ({len(chunk)} of {length} bytes)")
        pos += length
        if flags & TRAILER_FLAG:
            trailers.update(parse_trailers(chunk))
        else:
            messages.append(chunk)
    return messages, trailers


def parse_trailers(block: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in block.decode("utf-8", "replace").split("\r\n"):
        if ":" in line:
            key, value = line.split(":", 1)
            out[key.strip().lower()] = value.strip()
    return out


def encode_trailers(trailers: Iterable[tuple[str, str]]) -> bytes:
    return "".join(f"{k}:{v}\r\n" for k, v in trailers).encode("utf-8")


class GrpcWebChannel:
    """The part of ``grpc.Channel`` that generated stubs use, for unary calls over gRPC-Web.

    ``token`` is called before every call (projected tokens rotate); ``ca_bundle`` verifies the
    server (the service CA on OpenShift).
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: Callable[[], str | None] = lambda: None,
        ca_bundle: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.timeout = timeout
        kwargs: dict[str, Any] = {"retries": False, "timeout": urllib3.Timeout(timeout)}
        if self.base_url.startswith("https://"):
            kwargs["cert_reqs"] = "CERT_REQUIRED"
            if ca_bundle:
                kwargs["ca_certs"] = ca_bundle
        self._pool = urllib3.PoolManager(**kwargs)

    def unary_unary(
        self,
        method: str,
        request_serializer: Callable[[Any], bytes] | None = None,
        response_deserializer: Callable[[bytes], Any] | None = None,
        **_ignored: Any,
    ) -> Callable[..., Any]:
        def call(request: Any, timeout: float | None = None, metadata: Any = None) -> Any:
            payload = request_serializer(request) if request_serializer else bytes(request)
            body = self._post(method, payload, timeout)
            return response_deserializer(body) if response_deserializer else body

        return call

    def _post(self, method: str, payload: bytes, timeout: float | None) -> bytes:
        headers = {
            "content-type": CONTENT_TYPE,
            "accept": CONTENT_TYPE,
            "x-grpc-web": "1",
            "x-user-agent": "grpc-web-python jupyter-dsp",
        }
        token = self._token()
        if token:
            headers["authorization"] = f"Bearer {token}"
        if timeout:
            headers["grpc-timeout"] = f"{max(1, int(timeout * 1000))}m"
        resp = self._pool.request(
            "POST",
            self.base_url + method,
            body=frame(payload),
            headers=headers,
            timeout=urllib3.Timeout(timeout or self.timeout),
            redirect=False,
            preload_content=True,
        )
        if resp.status != 200:
            text = resp.data[:500].decode("utf-8", "replace").strip()
            raise GrpcWebError(
                f"HTTP {resp.status} {resp.reason or ''}: {text}".strip(), http_status=resp.status
            )
        messages, trailers = unframe(resp.data)
        status = trailers.get("grpc-status", resp.headers.get("grpc-status"))
        message = trailers.get("grpc-message", resp.headers.get("grpc-message", ""))
        if status is None:
            raise GrpcWebError("gRPC-Web answer without grpc-status (not a gRPC-Web endpoint?)")
        if status != "0":
            raise GrpcWebError(unquote(message) or f"gRPC status {status}", grpc_status=int(status))
        return messages[0] if messages else b""

    def close(self) -> None:
        self._pool.clear()
