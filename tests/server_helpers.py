"""Helpers for the server-extension tests (imported by test modules and fixtures_server).

- ``raw_request``: exact bytes on the wire (no client-side normalisation of ``..`` or ``%2e``);
- ``RecordingUpstream``: a loopback HTTP server that records what the proxy sends it, can stall
  (for 504) and answers like the KFP API (healthz).
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import threading
from pathlib import Path
from typing import Any

import tornado.httpserver
import tornado.netutil
import tornado.web
from reference import REFERENCE, VALID

__all__ = [
    "HELLO",
    "REFERENCE",
    "RecordingUpstream",
    "make_ca",
    "raw_request",
    "server_tls_context",
]

HELLO = VALID / "hello_world.yaml"


async def raw_request(
    port: int, method: str, target: str, headers: dict[str, str] | None = None, body: bytes = b""
) -> tuple[int, dict[str, str], bytes]:
    """Send exactly ``METHOD target HTTP/1.1``; returns (status, headers, body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}")
    if body or method in ("POST", "PATCH", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    await writer.drain()
    data = await reader.read()
    writer.close()
    head, _, rest = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin1").split("\r\n")
    hdrs: dict[str, str] = {}
    for line in header_lines:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    if hdrs.get("transfer-encoding") == "chunked":
        rest = _dechunk(rest)
    return int(status_line.split()[1]), hdrs, rest


def _dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2 :]
    return out


class _Record(tornado.web.RequestHandler):
    def initialize(self, up: RecordingUpstream) -> None:
        self.up = up

    async def _any(self, path: str) -> None:
        self.up.seen.append(
            {
                "method": self.request.method,
                "uri": self.request.uri,
                "headers": dict(self.request.headers.get_all()),
                "body": self.request.body.decode("utf-8", "replace"),
            }
        )
        if path == "apis/v2beta1/healthz":
            self.finish({"multi_user": self.up.multi_user})
            return
        if self.up.stall:
            await asyncio.sleep(self.up.stall)
        self.set_status(self.up.status)
        for k, v in self.up.reply_headers.items():
            self.set_header(k, v)
        self.set_header("Content-Type", self.up.content_type)
        self.finish(self.up.body)

    get = post = patch = delete = _any


class RecordingUpstream:
    """A loopback stand-in for a stack, to observe what the proxy forwards."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.multi_user = True
        self.stall = 0.0
        self.status = 200
        self.body: bytes = json.dumps({"pipelines": [], "total_size": 0}).encode()
        self.content_type = "application/json"
        self.reply_headers: dict[str, str] = {}
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self, ssl_ctx: ssl.SSLContext | None = None) -> RecordingUpstream:
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1", family=socket.AF_INET)
        scheme = "https" if ssl_ctx else "http"
        self.url = f"{scheme}://127.0.0.1:{sockets[0].getsockname()[1]}"
        ready = threading.Event()
        app = tornado.web.Application([(r"/(.*)", _Record, {"up": self})])

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            server = tornado.httpserver.HTTPServer(app, ssl_options=ssl_ctx)
            server.add_sockets(sockets)
            loop.call_soon(ready.set)
            loop.run_forever()
            server.stop()
            for task in asyncio.all_tasks(loop):
                task.cancel()
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()

        self._thread = threading.Thread(target=run, name="recording-upstream", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop and self._thread:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)


def make_ca(directory: Path, name: str) -> tuple[Path, Any, Any]:
    """A self-signed CA: (PEM path, certificate, key)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    path = directory / f"{name}.crt"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path, cert, key


def server_tls_context(directory: Path, ca_cert: Any, ca_key: Any) -> ssl.SSLContext:
    """A server context for 127.0.0.1 with a certificate signed by the given CA."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = directory / "server.crt", directory / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert_path, key_path)
    return ctx
