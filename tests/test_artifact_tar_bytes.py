"""Directory artifacts download byte for byte, whatever their members' sizes: a tar member whose
size is a multiple of 512 has no padding, which must not end the stream (it once cut a model
directory of model.json and weights.bin to 4,096 of 5,120 bytes).

From the embedded stack through the Jupyter server's ``dsp/artifacts`` and the kernel's client,
and from S3 (moto) found through ML Metadata, server and kernel alike.
(No ``from __future__ import annotations``: kfp reads the component's annotations.)
"""

import asyncio
import io
import json
import tarfile
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
from kfp import dsl  # type: ignore[import-untyped]
from kfp.dsl import Model, Output  # type: ignore[import-untyped]
from results_helpers import compile_to, start_run, tasks_named, wait_run

from jupyter_dsp.client import DSPClient

pytest_plugins = ("pytest_jupyter.jupyter_server", "fixtures_cluster", "fixtures_server")

SIZES = (0, 1, 511, 512, 513, 1024, 2048)


def member_bytes(n: int) -> bytes:
    return bytes((i * 7 + n) % 251 for i in range(n))


def expected_files(base: str) -> dict[str, bytes]:
    """What the directory holds: one file a size at the top, the same again two folders down."""
    files = {}
    for n in SIZES:
        files[f"{base}/f{n}.bin"] = member_bytes(n)
        files[f"{base}/deep/er/g{n}.bin"] = member_bytes(n)
    return files


@dsl.component(base_image="python:3.11")
def write_model_dir(model: Output[Model]) -> None:
    import os

    os.makedirs(os.path.join(model.path, "deep", "er"), exist_ok=True)
    for n in (0, 1, 511, 512, 513, 1024, 2048):
        data = bytes((i * 7 + n) % 251 for i in range(n))
        for name in (f"f{n}.bin", os.path.join("deep", "er", f"g{n}.bin")):
            with open(os.path.join(model.path, name), "wb") as f:
                f.write(data)


@dsl.pipeline(name="model-dir")
def model_dir() -> Model:
    return write_model_dir().outputs["model"]


def untar(body: bytes) -> dict[str, bytes]:
    assert len(body) % 512 == 0, len(body)
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        return {
            m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        }


@pytest.fixture
def jp_server_config(dsp_server_config):
    return dsp_server_config


async def test_embedded_stack_directory_byte_for_byte(proxied_stack, jp_fetch, tmp_path):
    spec = compile_to(model_dir, tmp_path)
    run_id = start_run(proxied_stack.url, proxied_stack.token, spec)
    assert wait_run(proxied_stack.url, proxied_stack.token, run_id)["state"] == "SUCCEEDED"
    doc = json.loads((await jp_fetch("dsp", "results", run_id)).body)
    [model] = tasks_named(doc, "write-model-dir")[0]["outputs"]["artifacts"]["model"]
    assert model["size"] == 2 * sum(SIZES)

    served = await jp_fetch("dsp", "artifacts", run_id, model["artifact_id"])
    assert served.code == 200 and served.headers["Content-Type"] == "application/x-tar"
    assert served.headers["Content-Length"] == str(len(served.body))
    assert untar(served.body) == expected_files("model")

    client = DSPClient.from_endpoint(proxied_stack.url, proxied_stack.token, namespace="default")
    target = await asyncio.to_thread(
        client.download_artifact, run_id, model["artifact_id"], tmp_path / "model.tar"
    )
    assert target.read_bytes() == served.body
    run = await asyncio.to_thread(client.get_run, run_id)
    out = tmp_path / "outputs"
    out.mkdir()
    got = await asyncio.to_thread(run.outputs["write-model-dir"]["model"].download, out)
    assert got.read_bytes() == served.body


# --- S3 through ML Metadata (ml-metadata's store where it installs, else the tests' own) ------


def _put_directory(cluster: Any, run_id: str, namespace: str) -> tuple[int, dict[str, bytes]]:
    """The results demo plus a task whose ``model`` KFP uploaded as a directory (each file
    under the artifact's URI, no object at the URI itself)."""
    from fixtures_mlmd import BUCKET
    from mlmd_kfp_run import KfpRunRecorder, record_results_demo

    s3 = boto3.client(
        "s3",
        endpoint_url=cluster.s3_endpoint,
        aws_access_key_id="x",
        aws_secret_access_key="y",
        region_name="us-east-1",
    )
    recorder = KfpRunRecorder(cluster.store, s3, BUCKET, "results-demo", run_id, namespace)
    ids = record_results_demo(recorder)
    task = recorder.create("Container", "write-model-dir", parent=ids["root"])
    written = recorder.publish(
        task, {}, {"model": ("system.Model", b"", {})}, task_dir="write-model-dir"
    )
    key = f"v2/artifacts/results-demo/{run_id}/write-model-dir/model"
    s3.delete_object(Bucket=BUCKET, Key=key)
    files = expected_files("model")
    for name, data in files.items():
        s3.put_object(Bucket=BUCKET, Key=f"{key}/{name.removeprefix('model/')}", Body=data)
    return written["model"], files


@pytest.fixture
def s3_dsp_cluster(request, sa_dir, fake_kube, stack_factory, dsp_config, clean_dsp_env):
    from fake_kube_api import make_dspa

    cluster = request.getfixturevalue("mlmd_cluster")
    for key, value in cluster.s3_env().items():
        clean_dsp_env.setenv(key, value)
    handle = stack_factory(default_namespace="team-a", tokens={"sa": ({"team-a": "edit"}, "view")})
    sa_dir.rotate(handle.tokens["sa"])
    fake_kube.dspas["team-a"] = [make_dspa("dspa", "team-a", url=handle.url)]
    cluster.front.tokens[handle.tokens["sa"]] = (sa_dir.subject, True)
    dsp_config.update(mlmd_endpoint=cluster.grpcweb_url, ca_bundle=str(cluster.ca_path))
    return cluster


async def test_s3_directory_byte_for_byte(
    s3_dsp_cluster, jp_fetch, server_url, jupyter_token, clean_dsp_env, tmp_path
):
    import kfp  # type: ignore[import-untyped]
    from server_helpers import HELLO

    def run() -> str:
        client = kfp.Client(host=f"{server_url}dsp/api/project", existing_token=jupyter_token)
        return client.create_run_from_pipeline_package(str(HELLO), arguments={}).run_id

    run_id = await asyncio.to_thread(run)
    artifact_id, files = _put_directory(s3_dsp_cluster, run_id, "team-a")
    served = await jp_fetch("dsp", "artifacts", run_id, str(artifact_id))
    assert served.code == 200 and served.headers["Content-Type"] == "application/x-tar"
    assert untar(served.body) == files
    # by ranges that end inside, and right after, an unpadded member
    for first, last in ((0, 511), (512, 2047), (1000, len(served.body) - 1)):
        part = await jp_fetch(
            "dsp", "artifacts", run_id, str(artifact_id), headers={"Range": f"bytes={first}-{last}"}
        )
        assert part.code == 206 and part.body == served.body[first : last + 1]

    from jupyter_dsp.client import connect

    clean_dsp_env.setenv("JUPYTER_DSP_MLMD_ENDPOINT", s3_dsp_cluster.grpcweb_url)
    clean_dsp_env.setenv("JUPYTER_DSP_CA_BUNDLE", str(s3_dsp_cluster.ca_path))
    client = await asyncio.to_thread(connect)
    target = await asyncio.to_thread(
        client.download_artifact, run_id, str(artifact_id), tmp_path / "model.tar"
    )
    assert target.read_bytes() == served.body


def test_the_reader_itself_refuses_another_namespaces_directory(request, tmp_path):
    """With no proxy in front (the kernel's path), a run context of another namespace is
    refused by the reader: team-b's directory artifact, asked for as team-a's on Kubeflow's
    shared store, is a 403 before any byte is read."""
    from jupyter_dsp.connection.model import Connection, Space
    from jupyter_dsp.connection.settings import DSPSettings
    from jupyter_dsp.results.cluster_content import open_cluster_artifact
    from jupyter_dsp.results.mlmd.errors import MLMDError

    cluster = request.getfixturevalue("mlmd_cluster")
    artifact_id, _ = _put_directory(cluster, "run-b-dir", "team-b")
    space = Space("project", "http://127.0.0.1:1", "team-a", True, True)
    conn = Connection("cluster-kubeflow", "team-a", "nb", "read-write", space, None)
    settings = DSPSettings(mlmd_endpoint=cluster.grpc_target, runtimes_dir=str(tmp_path))
    with pytest.raises(MLMDError) as refused:
        open_cluster_artifact(conn, settings, "run-b-dir", str(artifact_id))
    assert refused.value.status == 403
    assert "team-b" in str(refused.value) and "team-a" in str(refused.value)
