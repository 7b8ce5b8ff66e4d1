"""A real ML Metadata store on loopback, served the two ways a cluster serves it, and a real
S3-compatible server holding the artifacts' bytes.

- ``ml_metadata.metadata_store.MetadataStore`` on SQLite, behind ml-metadata's own gRPC service
  definition (``metadata_store_service_pb2_grpc``): a ``grpc.server`` whose servicer forwards
  each RPC the reader uses to the store (Kubeflow's ``metadata-grpc-service``); where
  ml-metadata does not install (CPython >= 3.12), or with ``JUPYTER_DSP_TEST_MLMD_STORE=memory``,
  the store the tests build (:mod:`mlmd_memory_store`) behind the same servicer, served with the
  project's own messages;
- in front of it, an HTTPS gRPC-Web front that checks the bearer token like kube-rbac-proxy
  (unknown token 401; known but not granted 403) and translates gRPC-Web framing to a gRPC call
  on that server, as Envoy's ``grpc_web`` filter does (Data Science Pipelines' ``ds-pipeline-md``);
- moto's S3 server (``ThreadedMotoServer``) with the bytes at each artifact's URI.

The store is filled by :mod:`mlmd_kfp_run` exactly as KFP's driver and launcher fill it.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import mlmd_store_process
import pytest
import tornado.httpserver
import tornado.netutil
import tornado.web
from mlmd_kfp_run import KfpRunRecorder, record_results_demo
from mlmd_memory_store import MemoryMetadataStore
from mlmd_servicer import any_store, serve_store, store_python
from server_helpers import make_ca, server_tls_context

from jupyter_dsp.results.mlmd.grpcweb import CONTENT_TYPE, encode_trailers, frame, unframe

S3_KEY_ID = "AKIDLOOPBACK"
S3_SECRET = "loopback-secret"
BUCKET = "mlpipeline"


class GrpcWebFront:
    """kube-rbac-proxy + Envoy's gRPC-Web filter, on loopback HTTPS."""

    def __init__(self, grpc_target: str, tls: Any, tokens: dict[str, tuple[str, bool]]) -> None:
        self.grpc_target = grpc_target
        self.tls = tls
        self.tokens = tokens  # token -> (user, granted create on the dspa's api)
        self.requests: list[tuple[str, int]] = []
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> str:
        ready = threading.Event()
        channel = grpc.insecure_channel(self.grpc_target)
        front = self

        class Handler(tornado.web.RequestHandler):
            def check_xsrf_cookie(self) -> None:  # a machine API, like the real one
                return None

            async def post(self, method: str) -> None:
                code = front.authorize(self.request.headers.get("Authorization", ""))
                front.requests.append((method, code))
                if code != 200:
                    self.set_status(code)
                    self.finish("Unauthorized" if code == 401 else front.forbidden(self.request))
                    return
                messages, _ = unframe(self.request.body)
                call = channel.unary_unary(f"/{method}")
                loop = asyncio.get_running_loop()
                self.set_header("Content-Type", CONTENT_TYPE)
                try:
                    answer = await loop.run_in_executor(
                        None, lambda: call(messages[0] if messages else b"", timeout=10)
                    )
                except grpc.RpcError as exc:  # trailers-only answer
                    self.set_header("grpc-status", str(exc.code().value[0]))
                    self.set_header("grpc-message", exc.details() or "")
                    self.finish(b"")
                    return
                self.write(frame(answer))
                self.finish(
                    frame(
                        encode_trailers([("grpc-status", "0"), ("grpc-message", "")]), trailers=True
                    )
                )

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            app = tornado.web.Application([(r"/(.+)", Handler)])
            server = tornado.httpserver.HTTPServer(app, ssl_options=self.tls)
            sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
            server.add_sockets(sockets)
            self.url = f"https://127.0.0.1:{sockets[0].getsockname()[1]}"
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        # binding a loopback socket in a fresh thread; a front that never came up must fail
        # here, not leave an empty URL to every test of the session
        if not ready.wait(60) or not self.url:
            raise RuntimeError("the gRPC-Web front did not start within 60 s")
        return self.url

    def authorize(self, header: str) -> int:
        token = header[len("Bearer ") :] if header.startswith("Bearer ") else ""
        if token not in self.tokens:
            return 401
        return 200 if self.tokens[token][1] else 403

    def forbidden(self, request: Any) -> str:
        token = request.headers.get("Authorization", "")[len("Bearer ") :]
        user = self.tokens[token][0]
        return (
            f"Forbidden (user={user}, verb=create, resource=datasciencepipelinesapplications, "
            "subresource=api)"
        )

    def stop(self) -> None:
        if self._loop and self._thread:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)


@dataclass
class MLMDCluster:
    store: Any  # ml-metadata's MetadataStore, or mlmd_memory_store.MemoryMetadataStore
    servicer: Any
    grpc_target: str
    grpcs_target: str
    grpcweb_url: str
    ca_path: Path
    s3_endpoint: str
    runs: dict[str, Any] = field(default_factory=dict)
    front: GrpcWebFront | None = None

    @property
    def kind(self) -> str:
        if isinstance(self.store, MemoryMetadataStore):
            return "test-built"
        if isinstance(self.store, mlmd_store_process.RemoteStore):
            return "ml-metadata (its own process)"
        return "ml-metadata"

    def s3_env(self) -> dict[str, str]:
        return {
            "AWS_S3_ENDPOINT": self.s3_endpoint,
            "AWS_ACCESS_KEY_ID": S3_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": S3_SECRET,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_S3_BUCKET": BUCKET,
        }


@pytest.fixture(scope="session")
def mlmd_cluster(tmp_path_factory) -> Any:
    """One store with two runs of the results demo (namespaces team-a and team-b), served over
    gRPC and gRPC-Web (tokens: ``good-token`` granted, ``ungranted-token`` 403), and S3. The
    store is ml-metadata's where it installs, or in a process of a Python that has it
    (``JUPYTER_DSP_TEST_MLMD_PYTHON``), else the one the tests build (``cluster.kind``)."""
    import boto3
    from moto.server import ThreadedMotoServer

    root = tmp_path_factory.mktemp("mlmd")
    ca_path, ca_cert, ca_key = make_ca(root, "service-ca")
    tls = server_tls_context(root, ca_cert, ca_key)  # writes server.crt/.key for 127.0.0.1
    server = process = None
    python = store_python()
    if python:  # ml-metadata's store, served by another interpreter
        process = mlmd_store_process.start(python, root)
        store, servicer = process.store, None
        grpc_port, grpcs_port = process.grpc_port, process.grpcs_port
    else:
        store = any_store(root / "mlmd.sqlite")
        server = grpc.server(ThreadPoolExecutor(4))
        servicer = serve_store(store, server)
        grpc_port = server.add_insecure_port("127.0.0.1:0")
        creds = grpc.ssl_server_credentials(
            [((root / "server.key").read_bytes(), (root / "server.crt").read_bytes())]
        )
        grpcs_port = server.add_secure_port("127.0.0.1:0", creds)  # pod-to-pod TLS
        server.start()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    s3_endpoint = f"http://{host}:{port}"
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id=S3_KEY_ID,
        aws_secret_access_key=S3_SECRET,
        region_name="us-east-1",
    )
    s3.create_bucket(Bucket=BUCKET)
    runs = {}
    for run_id, namespace in (("run-team-a-1", "team-a"), ("run-team-b-1", "team-b")):
        recorder = KfpRunRecorder(store, s3, BUCKET, "results-demo", run_id, namespace)
        runs[run_id] = record_results_demo(recorder)
    front = GrpcWebFront(
        f"127.0.0.1:{grpc_port}",
        tls,
        {
            "good-token": ("system:serviceaccount:team-a:nb", True),
            "ungranted-token": ("system:serviceaccount:team-a:other", False),
        },
    )
    front.start()
    cluster = MLMDCluster(
        store=store,
        servicer=servicer,
        grpc_target=f"127.0.0.1:{grpc_port}",
        grpcs_target=f"127.0.0.1:{grpcs_port}",
        grpcweb_url=front.url,
        ca_path=ca_path,
        s3_endpoint=s3_endpoint,
        runs=runs,
        front=front,
    )
    yield cluster
    front.stop()
    if server is not None:
        server.stop(0)
    if process is not None:
        process.stop()
    try:
        moto.stop()
    except Exception:
        pass
