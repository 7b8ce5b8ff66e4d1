"""Cluster results: how long reading a 200-iteration ParallelFor run (401 tasks) from ML Metadata
takes over gRPC and over gRPC-Web (the token-checking front of tests/fixtures_mlmd.py), with the
project's own messages and stub (jupyter_dsp.results.mlmd.proto) and, where ml-metadata
installs, with ml-metadata's generated classes and stub running the same reader code, rounds
interleaved, side by side (p50 and the ratio); then how much memory streaming a 100 MB artifact
from S3 (moto's server, in its own process) costs the reading process.

The store is ml-metadata's (SQLite) where it installs, else the one the tests build.

    python bench/mlmd_read.py [--iterations 200] [--mb 100] [--repeat 9]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def record_loop_run(store, s3, bucket: str, run_id: str, iterations: int) -> None:
    from mlmd_kfp_run import KfpRunRecorder

    r = KfpRunRecorder(store, s3, bucket, "bench-loop", run_id, "team-a")
    root = r.create("DAG", "", name=f"run/{run_id}", inputs={"n": iterations})
    loop = r.create("DAG", "for-loop-1", parent=root, iteration_count=iterations)
    for i in range(iterations):
        it = r.create("DAG", "for-loop-1", parent=loop, iteration_index=i, inputs={"item": i})
        step = r.create("Container", "train", parent=it, inputs={"item": i, "lr": 0.01})
        r.publish(
            step,
            {"Output": i * 0.5},
            {"metrics": ("system.Metrics", b"", {"accuracy": i / iterations, "loss": 1.0})},
            task_dir=f"train-{i}",
        )
        r.publish(it)
    r.publish(loop)
    r.publish(root)


def ml_metadata_messages():
    """ml-metadata's generated classes and stub, in the shape the reader uses (None where the
    package is not installed)."""
    try:
        from ml_metadata.proto import metadata_store_pb2 as store
        from ml_metadata.proto import metadata_store_service_pb2 as svc
        from ml_metadata.proto import metadata_store_service_pb2_grpc as svc_grpc
    except ImportError:
        return None
    from jupyter_dsp.results.mlmd import proto as mlmd_proto

    return SimpleNamespace(
        request=lambda rpc, **fields: getattr(svc, f"{rpc}Request")(**fields),
        enum_name=mlmd_proto.enum_name,
        Execution=store.Execution,
        Event=store.Event,
        MetadataStoreStub=svc_grpc.MetadataStoreServiceStub,
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--mb", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=9)
    args = ap.parse_args()

    import boto3
    import grpc
    import psutil
    from fixtures_mlmd import GrpcWebFront
    from mlmd_servicer import any_store, serve_store
    from server_helpers import make_ca, server_tls_context

    from jupyter_dsp.results.mlmd import proto as mlmd_proto
    from jupyter_dsp.results.mlmd import reader as mlmd_module
    from jupyter_dsp.results.mlmd.endpoint import MLMDEndpoint
    from jupyter_dsp.results.mlmd.reader import MLMDReader
    from jupyter_dsp.results.objectstore import ObjectStore

    tmp = Path(tempfile.mkdtemp(prefix="bench-mlmd-"))
    port = free_port()
    moto = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        env = {
            "AWS_S3_ENDPOINT": f"http://127.0.0.1:{port}",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        s3 = boto3.client(
            "s3",
            endpoint_url=env["AWS_S3_ENDPOINT"],
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
            region_name="us-east-1",
        )
        for _ in range(100):
            try:
                s3.create_bucket(Bucket="mlpipeline")
                break
            except Exception:
                time.sleep(0.1)
        store = any_store(tmp / "mlmd.sqlite")
        t0 = time.perf_counter()
        record_loop_run(store, s3, "mlpipeline", "bench-run", args.iterations)
        recorded = time.perf_counter() - t0

        from concurrent.futures import ThreadPoolExecutor

        server = grpc.server(ThreadPoolExecutor(4))
        serve_store(store, server)
        gport = server.add_insecure_port("127.0.0.1:0")
        server.start()
        ca_path, ca_cert, ca_key = make_ca(tmp, "ca")
        front = GrpcWebFront(
            f"127.0.0.1:{gport}",
            server_tls_context(tmp, ca_cert, ca_key),
            {"t": ("bench", True)},
        )
        url = front.start()
        endpoints = {
            "grpc": MLMDEndpoint(target=f"127.0.0.1:{gport}", transport="grpc", how="bench"),
            "grpc-web": MLMDEndpoint(
                target=url,
                transport="grpc-web",
                how="bench",
                tls=True,
                ca_bundle=str(ca_path),
                token=lambda: "t",
            ),
        }
        kind = type(store).__name__
        print(
            f"recorded a {args.iterations}-iteration ParallelFor run in {recorded:.2f} s "
            f"({kind}, Python {sys.version.split()[0]})"
        )
        clients = {"ours": mlmd_proto}
        theirs = ml_metadata_messages()
        if theirs is not None:
            clients["ml-metadata"] = theirs
        else:
            print("(ml-metadata is not installed: only the project's own client is measured)")
        times: dict[tuple[str, str], list[float]] = {}
        docs = {}
        for _ in range(args.repeat):
            for name, ep in endpoints.items():
                for client, messages in clients.items():
                    mlmd_module.pb = messages  # the same reader code on either message set
                    try:
                        t0 = time.perf_counter()
                        with MLMDReader(ep) as reader:
                            doc = reader.read_run("bench-run", "team-a")
                        times.setdefault((name, client), []).append(time.perf_counter() - t0)
                    finally:
                        mlmd_module.pb = mlmd_proto
                    docs[(name, client)] = doc
        first = next(iter(docs.values()))
        assert all(d == first for d in docs.values()), "the clients read different documents"
        size = len(json.dumps(first))
        print(f"{len(first['tasks'])} tasks, document {size / 1024:.0f} KiB, p50 of {args.repeat}:")
        p50 = {key: statistics.median(vals) for key, vals in times.items()}
        for name in endpoints:
            line = f"  {name:8}: ours {p50[(name, 'ours')] * 1000:7.1f} ms"
            if (name, "ml-metadata") in p50:
                theirs_ms = p50[(name, "ml-metadata")] * 1000
                ratio = p50[(name, "ours")] / p50[(name, "ml-metadata")]
                line += f" | ml-metadata's stubs {theirs_ms:7.1f} ms | ours/theirs {ratio:.2f}x"
            print(line)
        print(f"gRPC-Web / gRPC (ours): {p50[('grpc-web', 'ours')] / p50[('grpc', 'ours')]:.2f}x")
        front.stop()
        server.stop(0)

        data = os.urandom(1024 * 1024)
        key = "bench/big"
        mpu = s3.create_multipart_upload(Bucket="mlpipeline", Key=key)
        parts = []
        for n in range(1, args.mb // 5 + 1):  # 5 MiB parts, the S3 minimum
            body = data * 5
            etag = s3.upload_part(
                Bucket="mlpipeline", Key=key, PartNumber=n, UploadId=mpu["UploadId"], Body=body
            )["ETag"]
            parts.append({"ETag": etag, "PartNumber": n})
        s3.complete_multipart_upload(
            Bucket="mlpipeline",
            Key=key,
            UploadId=mpu["UploadId"],
            MultipartUpload={"Parts": parts},
        )
        proc = psutil.Process()
        store_client = ObjectStore(env)
        base = proc.memory_info().rss
        peak = base
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, proc.memory_info().rss)
                time.sleep(0.005)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        t0 = time.perf_counter()
        read = store_client.read(f"s3://mlpipeline/{key}")
        total = sum(len(chunk) for chunk in read.chunks)
        took = time.perf_counter() - t0
        stop.set()
        sampler.join()
        print(
            f"streamed {total / 2**20:.0f} MiB from S3 in {took:.2f} s "
            f"({total / 2**20 / took:.0f} MiB/s); reader RSS grew {(peak - base) / 2**20:.1f} MiB"
        )
    finally:
        moto.terminate()
        moto.wait(10)


if __name__ == "__main__":
    main()
