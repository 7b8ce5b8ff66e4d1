"""ml-metadata's real store in a process of its own, for test runs on an interpreter where the
ml-metadata package does not install (CPython >= 3.12): run by a Python that has it (CI: the
main environment's 3.11), it serves the store over gRPC (ml-metadata's generated service, plain
and TLS) and takes the tests' writes (what :mod:`mlmd_kfp_run` calls) over a
``multiprocessing.connection`` socket on loopback, messages crossing as their serialized bytes.

    python tests/mlmd_store_process.py STORE.sqlite SERVER.key SERVER.crt   (authkey on stdin)

It prints one JSON line (``grpc``, ``grpcs``, ``store`` ports) and runs until its stdin closes.
:class:`RemoteStore` is the tests' side: ``MetadataStore``'s calls, with the project's messages.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import subprocess
import sys
import threading
from multiprocessing.connection import Client, Listener
from pathlib import Path
from typing import Any

PB, DC = "pb", "dc"


def _encode(obj: Any) -> Any:
    if hasattr(obj, "SerializeToString") and hasattr(obj, "DESCRIPTOR"):
        return (PB, obj.DESCRIPTOR.full_name, obj.SerializeToString())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        fields = {k: v for k, v in dataclasses.asdict(obj).items() if v}
        return (DC, f"ml_metadata.{type(obj).__name__}", fields)
    if isinstance(obj, (list, tuple)):
        return type(obj)(_encode(o) for o in obj)
    return obj


def _decode(obj: Any, message_class: Any) -> Any:
    if isinstance(obj, tuple) and len(obj) == 3 and obj[0] in (PB, DC):
        cls = message_class(obj[1])
        return cls.FromString(obj[2]) if obj[0] == PB else cls(**obj[2])
    if isinstance(obj, (list, tuple)):
        return type(obj)(_decode(o, message_class) for o in obj)
    return obj


class RemoteStore:
    """The tests' handle on the store in the other process (same calls as ``MetadataStore``)."""

    def __init__(self, port: int, authkey: bytes) -> None:
        from mlmd_memory_store import MESSAGES

        from jupyter_dsp.results.mlmd import proto as mlmd_proto

        self.messages = MESSAGES
        self._classes = mlmd_proto.message_class
        self._conn = Client(("127.0.0.1", port), authkey=authkey)
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self._conn.send((name, _encode(args), _encode(tuple(kwargs.items()))))
                ok, result = self._conn.recv()
            if not ok:
                raise RuntimeError(f"the ML Metadata store process: {name}: {result}")
            return _decode(result, self._classes)

        return call

    def close(self) -> None:
        self._conn.close()


@dataclasses.dataclass
class StoreProcess:
    proc: subprocess.Popen
    grpc_port: int
    grpcs_port: int
    store: RemoteStore

    def stop(self) -> None:
        self.store.close()
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def start(python: str, root: Path) -> StoreProcess:
    """ml-metadata's store at ``root/mlmd.sqlite`` served by ``python`` (which must have
    ml-metadata), with the TLS key pair ``root/server.key``/``server.crt``."""
    here = Path(__file__).resolve().parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(here.parent), str(here)])}
    authkey = secrets.token_hex(16).encode()
    proc = subprocess.Popen(
        [
            python,
            str(here / "mlmd_store_process.py"),
            str(root / "mlmd.sqlite"),
            str(root / "server.key"),
            str(root / "server.crt"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    )
    assert proc.stdin and proc.stdout
    proc.stdin.write(authkey + b"\n")
    proc.stdin.flush()
    line = proc.stdout.readline()
    if not line:
        proc.wait(30)
        raise RuntimeError(f"{python} could not serve ml-metadata's store (exit {proc.returncode})")
    ports = json.loads(line)
    return StoreProcess(proc, ports["grpc"], ports["grpcs"], RemoteStore(ports["store"], authkey))


def _serve_calls(listener: Listener, store: Any) -> None:
    from ml_metadata.proto import metadata_store_pb2

    def real_class(full_name: str) -> Any:
        return getattr(metadata_store_pb2, full_name.rsplit(".", 1)[1])

    while True:
        conn = listener.accept()
        try:
            while True:
                name, args, kwargs = conn.recv()
                try:
                    args = _decode(args, real_class)
                    kwargs = dict(_decode(kwargs, real_class))
                    conn.send((True, _encode(getattr(store, name)(*args, **kwargs))))
                except Exception as exc:  # the tests' mistake: said on their side
                    conn.send((False, f"{type(exc).__name__}: {exc}"))
        except (EOFError, OSError):
            conn.close()


def main() -> None:
    from concurrent.futures import ThreadPoolExecutor

    import grpc
    from mlmd_servicer import open_store, serve_store

    store_path, key, cert = (Path(a) for a in sys.argv[1:4])
    authkey = sys.stdin.buffer.readline().strip()
    store = open_store(store_path)
    server = grpc.server(ThreadPoolExecutor(4))
    serve_store(store, server)
    grpc_port = server.add_insecure_port("127.0.0.1:0")
    creds = grpc.ssl_server_credentials([(key.read_bytes(), cert.read_bytes())])
    grpcs_port = server.add_secure_port("127.0.0.1:0", creds)
    server.start()
    listener = Listener(("127.0.0.1", 0), authkey=authkey)
    threading.Thread(target=_serve_calls, args=(listener, store), daemon=True).start()
    print(
        json.dumps({"grpc": grpc_port, "grpcs": grpcs_port, "store": listener.address[1]}),
        flush=True,
    )
    sys.stdin.buffer.read()  # until the tests close it (or end)
    server.stop(0)


if __name__ == "__main__":
    main()
