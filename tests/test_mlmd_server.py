"""Run results through the real Jupyter server in a simulated cluster: the KFP API is a real
stack (found through the fake Kubernetes API's DSPA, or as Kubeflow's), ML Metadata the real
store over gRPC-Web behind the token check (DSP) or over gRPC (Kubeflow), bytes in moto S3."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import tarfile

import boto3  # type: ignore[import-untyped]
import kfp  # type: ignore[import-untyped]
import pytest
from fake_kube_api import make_dspa
from fixtures_mlmd import BUCKET
from mlmd_kfp_run import DATASET, MODEL, KfpRunRecorder, record_results_demo
from server_helpers import HELLO
from tornado.httpclient import HTTPClientError

pytest_plugins = (
    "pytest_jupyter.jupyter_server",
    "fixtures_cluster",
    "fixtures_server",
)


@pytest.fixture
def jp_server_config(dsp_server_config):
    return dsp_server_config


def s3_client(cluster):
    return boto3.client(
        "s3",
        endpoint_url=cluster.s3_endpoint,
        aws_access_key_id="x",
        aws_secret_access_key="y",
        region_name="us-east-1",
    )


def record(cluster, run_id: str, namespace: str) -> dict:
    return record_results_demo(
        KfpRunRecorder(cluster.store, s3_client(cluster), BUCKET, "results-demo", run_id, namespace)
    )


DIR_FILES = {"a.txt": b"alpha\n", "part/b.txt": b"beta\n" * 300}


def record_with_a_directory(cluster, run_id: str, namespace: str) -> dict:
    """The results demo, plus a task whose output ``data`` was written as a directory (KFP
    uploads each file under the artifact's URI: no object at the URI itself); the root DAG's
    own state in ML Metadata is CANCELED, which the KFP API never says of these runs."""
    s3 = s3_client(cluster)
    recorder = KfpRunRecorder(cluster.store, s3, BUCKET, "results-demo", run_id, namespace)
    ids = record_results_demo(recorder)
    task = recorder.create("Container", "write-dir", parent=ids["root"])
    written = recorder.publish(task, {}, {"data": ("system.Dataset", b"", {})}, task_dir="dir")
    key = f"v2/artifacts/results-demo/{run_id}/dir/data"
    s3.delete_object(Bucket=BUCKET, Key=key)
    for name, data in DIR_FILES.items():
        s3.put_object(Bucket=BUCKET, Key=f"{key}/{name}", Body=data)
    [root] = cluster.store.get_executions_by_id([ids["root"]])
    root.last_known_state = recorder.pb.Execution.CANCELED
    cluster.store.put_executions([root])
    return {**ids, "dir": written["data"]}


@pytest.fixture
def refused_port():
    """A loopback port that refuses connections for the whole test: bound (so no other
    process on this shared machine can take it meanwhile) but never listening. A port that
    was free a moment ago is not: another server may have been given it since."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


@pytest.fixture
def s3_env(mlmd_cluster, clean_dsp_env):
    for key, value in mlmd_cluster.s3_env().items():
        clean_dsp_env.setenv(key, value)
    return clean_dsp_env


@pytest.fixture
def dsp_cluster(sa_dir, fake_kube, stack_factory, mlmd_cluster, dsp_config, s3_env, tmp_path):
    """Data Science Pipelines: DSPA discovered, its MLMD proxy at the gRPC-Web front, which
    grants the workbench's token; the dashboard link from the runtime file."""
    handle = stack_factory(default_namespace="team-a", tokens={"sa": ({"team-a": "edit"}, "view")})
    sa_dir.rotate(handle.tokens["sa"])
    fake_kube.dspas["team-a"] = [make_dspa("dspa", "team-a", url=handle.url)]
    mlmd_cluster.front.tokens[handle.tokens["sa"]] = (sa_dir.subject, True)
    runtimes = tmp_path / "runtimes"
    runtimes.mkdir()
    public = {"metadata": {"public_api_endpoint": "https://dash.example.com/experiments/team-a/"}}
    (runtimes / "odh_dsp.json").write_text(json.dumps(public))
    dsp_config.update(mlmd_endpoint=mlmd_cluster.grpcweb_url, ca_bundle=str(mlmd_cluster.ca_path))
    return handle


async def start_run(server_url: str, jupyter_token: str) -> str:
    def run() -> str:
        client = kfp.Client(host=f"{server_url}dsp/api/project", existing_token=jupyter_token)
        return client.create_run_from_pipeline_package(str(HELLO), arguments={}).run_id

    return await asyncio.to_thread(run)


async def test_dsp_results_and_bytes_through_the_server(
    dsp_cluster,
    mlmd_cluster,
    sa_dir,
    jp_fetch,
    server_url,
    jupyter_token,
):
    run_id = await start_run(server_url, jupyter_token)
    ids = record(mlmd_cluster, run_id, "team-a")["artifacts"]
    doc = json.loads((await jp_fetch("dsp", "results", run_id)).body)
    assert doc["unavailable"] is None, doc["unavailable"]
    assert doc["source"] == "mlmd" and doc["run_id"] == run_id
    assert doc["ui_url"].startswith("https://dash.example.com/experiments/team-a/")
    by_name = {t["name"]: t for t in doc["tasks"] if t["iteration_index"] is None}
    [metrics] = by_name["train"]["outputs"]["artifacts"]["metrics"]
    assert metrics["metadata"] == {"accuracy": 0.93, "loss": 0.21}
    assert by_name["report"]["state"] == "CACHED"
    assert sa_dir.token not in json.dumps(doc)
    # the front saw the workbench's token on each call
    assert (
        "ml_metadata.MetadataStoreService/GetExecutionsByContext",
        200,
    ) in mlmd_cluster.front.requests

    r = await jp_fetch(
        "dsp", "artifacts", run_id, str(ids["dataset"]), headers={"Range": "bytes=10-1033"}
    )
    assert r.code == 206 and r.body == DATASET[10:1034]
    assert r.headers["Content-Range"] == f"bytes 10-1033/{len(DATASET)}"
    r = await jp_fetch("dsp", "artifacts", run_id, str(ids["dataset"]))
    assert r.code == 200 and r.body == DATASET
    assert "AKID" not in json.dumps(dict(r.headers)) and "secret" not in json.dumps(dict(r.headers))


async def test_dsp_missing_grant_and_unreachable_pieces(
    dsp_cluster,
    mlmd_cluster,
    sa_dir,
    jp_fetch,
    server_url,
    jupyter_token,
    s3_env,
    refused_port,
):
    run_id = await start_run(server_url, jupyter_token)
    ids = record(mlmd_cluster, run_id, "team-a")["artifacts"]
    mlmd_cluster.front.tokens[sa_dir.token] = (sa_dir.subject, False)  # RoleBinding removed
    try:
        doc = json.loads((await jp_fetch("dsp", "results", run_id)).body)
    finally:
        mlmd_cluster.front.tokens[sa_dir.token] = (sa_dir.subject, True)
    assert doc["tasks"] == [] and doc["ui_url"].startswith("https://dash.example.com/")
    assert "403" in doc["unavailable"] and "ds-pipeline-user-access-dspa" in doc["unavailable"]

    # object storage down: the artifact read answers with the reason, no traceback
    s3_env.setenv("AWS_S3_ENDPOINT", f"http://127.0.0.1:{refused_port}")
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("dsp", "artifacts", run_id, str(ids["dataset"]))
    body = err.value.response.body.decode()
    assert err.value.code == 502 and "unreachable" in body and "Traceback" not in body


def artifacts_named(doc: dict, task: str, name: str) -> list[dict]:
    found = [t for t in doc["tasks"] if t["name"] == task and t["iteration_index"] is None]
    return found[0]["outputs"]["artifacts"][name]


async def test_dsp_document_is_the_kfp_runs_with_sizes_and_directories(
    dsp_cluster, mlmd_cluster, jp_fetch, server_url, jupyter_token
):
    """Through dsp/results: the KFP run's state (not the root DAG's), every size filled from
    object storage (a directory's the total of its files), the dashboard's run page; a
    directory artifact downloads as a tar, whole or by range."""
    run_id = await start_run(server_url, jupyter_token)
    ids = record_with_a_directory(mlmd_cluster, run_id, "team-a")
    api = ("dsp", "api", "project", "apis", "v2beta1", "runs", run_id)
    before = json.loads((await jp_fetch(*api)).body)
    doc = json.loads((await jp_fetch("dsp", "results", run_id)).body)
    after = json.loads((await jp_fetch(*api)).body)
    assert doc["unavailable"] is None, doc["unavailable"]
    assert doc["state"] in (before["state"], after["state"]) and doc["state"] != "CANCELED"
    experiment = before["experiment_id"]
    assert experiment
    assert (
        doc["ui_url"] == f"https://dash.example.com/experiments/team-a/{experiment}/runs/{run_id}"
    )
    [dataset] = artifacts_named(doc, "make-data", "dataset")
    [model] = artifacts_named(doc, "train", "model")
    [folder] = artifacts_named(doc, "write-dir", "data")
    assert (dataset["size"], model["size"]) == (len(DATASET), len(MODEL))
    assert folder["size"] == sum(map(len, DIR_FILES.values()))
    [used] = [t for t in doc["tasks"] if t["name"] == "train"][0]["inputs"]["artifacts"]["data"]
    assert used["size"] == len(DATASET)

    r = await jp_fetch("dsp", "artifacts", run_id, str(ids["dir"]))
    assert r.code == 200 and r.headers["Content-Type"] == "application/x-tar"
    assert r.headers["Content-Length"] == str(len(r.body)) and len(r.body) % 512 == 0
    assert "data.tar" in r.headers["Content-Disposition"]
    with tarfile.open(fileobj=io.BytesIO(r.body)) as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    assert files == {f"data/{name}": data for name, data in DIR_FILES.items()}
    part = await jp_fetch(
        "dsp", "artifacts", run_id, str(ids["dir"]), headers={"Range": "bytes=700-1800"}
    )
    assert part.code == 206 and part.body == r.body[700:1801]
    assert part.headers["Content-Range"] == f"bytes 700-1800/{len(r.body)}"


async def test_kernel_reads_the_same_document_and_bytes_as_the_server(
    dsp_cluster, mlmd_cluster, jp_fetch, server_url, jupyter_token, clean_dsp_env, tmp_path
):
    """The kernel (jupyter_dsp.connect() in the workbench) and dsp/results give one
    document: the same state, sizes and run page; bytes and directories read the same."""
    from jupyter_dsp.client import connect

    run_id = await start_run(server_url, jupyter_token)
    ids = record_with_a_directory(mlmd_cluster, run_id, "team-a")
    served = json.loads((await jp_fetch("dsp", "results", run_id)).body)
    clean_dsp_env.setenv("JUPYTER_DSP_MLMD_ENDPOINT", mlmd_cluster.grpcweb_url)
    clean_dsp_env.setenv("JUPYTER_DSP_CA_BUNDLE", str(mlmd_cluster.ca_path))
    client = await asyncio.to_thread(connect)
    assert client.mode == "cluster-dspa"
    doc = await asyncio.to_thread(client.results, run_id)
    if doc["state"] != served["state"]:  # the run moved on between the two reads
        served["state"] = doc["state"]
    assert doc == served
    [dataset] = artifacts_named(doc, "make-data", "dataset")
    assert dataset["size"] == len(DATASET) and doc["state"] != "CANCELED"
    assert doc["ui_url"].endswith(f"/runs/{run_id}")

    head = await asyncio.to_thread(
        client.read_artifact, run_id, str(ids["artifacts"]["dataset"]), 10
    )
    assert head == DATASET[:10]
    target = tmp_path / "data.tar"
    await asyncio.to_thread(client.download_artifact, run_id, str(ids["dir"]), target)
    whole = await jp_fetch("dsp", "artifacts", run_id, str(ids["dir"]))
    assert target.read_bytes() == whole.body


@pytest.fixture
def kubeflow_cluster(sa_dir, fake_kube, stack_factory, mlmd_cluster, dsp_config, s3_env):
    """Kubeflow: no DSPA, the multi-user KFP (a stack) and metadata-grpc-service over gRPC."""
    handle = stack_factory(default_namespace="team-a", tokens={"sa": ({"team-a": "edit"}, "view")})
    sa_dir.rotate(handle.tokens["sa"])
    dsp_config.update(kubeflow_endpoint=handle.url, mlmd_endpoint=mlmd_cluster.grpc_target)
    return handle


async def test_kubeflow_results_and_namespace_check(
    kubeflow_cluster,
    mlmd_cluster,
    jp_fetch,
    server_url,
    jupyter_token,
    dsp_config,
):
    info = json.loads((await jp_fetch("dsp", "info")).body)
    assert info["mode"] == "cluster-kubeflow"
    mine = await start_run(server_url, jupyter_token)
    record(mlmd_cluster, mine, "team-a")
    doc = json.loads((await jp_fetch("dsp", "results", mine)).body)
    assert doc["unavailable"] is None, doc["unavailable"]
    assert doc["ui_url"] == f"/pipeline/#/runs/details/{mine}"
    squares = sorted(
        t["outputs"]["parameters"]["Output"] for t in doc["tasks"] if t["name"] == "square"
    )
    assert squares == [1, 4, 9]
    # the KFP API says team-a, but ML Metadata records the run under another namespace: refused
    other = await start_run(server_url, jupyter_token)
    record(mlmd_cluster, other, "team-b")
    doc = json.loads((await jp_fetch("dsp", "results", other)).body)
    assert doc["tasks"] == []
    assert "belongs to namespace 'team-b'" in doc["unavailable"]


async def test_dsp_outputs_in_a_kernel_over_grpc_web(
    dsp_cluster, mlmd_cluster, jp_fetch, server_url, jupyter_token, clean_dsp_env, tmp_path
):
    """DSP: ML Metadata over gRPC-Web behind the token check."""
    clean_dsp_env.setenv("JUPYTER_DSP_MLMD_ENDPOINT", mlmd_cluster.grpcweb_url)
    clean_dsp_env.setenv("JUPYTER_DSP_CA_BUNDLE", str(mlmd_cluster.ca_path))
    await dsp_outputs_in_a_kernel(mlmd_cluster, jp_fetch, server_url, jupyter_token, tmp_path)


async def test_dsp_outputs_in_a_kernel_over_grpc(
    kubeflow_cluster, mlmd_cluster, jp_fetch, server_url, jupyter_token, clean_dsp_env, tmp_path
):
    """Kubeflow: ML Metadata over gRPC."""
    clean_dsp_env.setenv("JUPYTER_DSP_KUBEFLOW_ENDPOINT", kubeflow_cluster.url)
    clean_dsp_env.setenv("JUPYTER_DSP_MLMD_ENDPOINT", mlmd_cluster.grpc_target)
    await dsp_outputs_in_a_kernel(mlmd_cluster, jp_fetch, server_url, jupyter_token, tmp_path)


async def dsp_outputs_in_a_kernel(mlmd_cluster, jp_fetch, server_url, jupyter_token, tmp_path):
    """``%dsp outputs`` and ``%dsp download`` in a real IPython shell on a cluster: parameters,
    metrics, the confusion matrix, a dataset preview and a directory artifact."""
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output
    from traitlets.config import Config

    run_id = await start_run(server_url, jupyter_token)
    ids = record_with_a_directory(mlmd_cluster, run_id, "team-a")

    def in_kernel() -> tuple:
        config = Config()
        config.HistoryManager.enabled = False
        InteractiveShell.clear_instance()
        shell = InteractiveShell.instance(config=config)
        try:
            shell.run_line_magic("load_ext", "jupyter_dsp")
            with capture_output() as shown:
                results = shell.run_line_magic("dsp", f"outputs {run_id}")
                shell.run_cell(f"%dsp outputs {run_id}").raise_error()
            target = tmp_path / "got.tar"
            path = shell.run_line_magic("dsp", f"download {run_id} write-dir data -o {target}")
            return results, shown.outputs, path
        finally:
            InteractiveShell.clear_instance()

    results, outputs, path = await asyncio.to_thread(in_kernel)
    assert results.source == "mlmd" and results.unavailable is None
    assert results["train"]["Output"] == 0.93
    assert results["train"].metrics == {"accuracy": 0.93, "loss": 0.21}
    frame = results["make-data"]["dataset"].to_dataframe()
    assert list(frame.columns) == ["x", "y"] and len(frame) == DATASET.count(b"\n") - 1
    assert results["train"]["model"].read_bytes() == MODEL
    titles = [
        o.data["application/vnd.vegalite.v5+json"]["title"]
        for o in outputs
        if "application/vnd.vegalite.v5+json" in o.data
    ]
    assert any("confusion matrix" in t for t in titles), titles
    whole = await jp_fetch("dsp", "artifacts", run_id, str(ids["dir"]))
    assert path.read_bytes() == whole.body
    names = tarfile.open(fileobj=io.BytesIO(whole.body)).getnames()
    assert any(n.endswith("part/b.txt") for n in names), names
