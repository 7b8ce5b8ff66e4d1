"""The cluster results path against a real ML Metadata store (SQLite, served over gRPC and over
gRPC-Web behind a token check) and moto's S3 server, all on loopback."""

from __future__ import annotations

import json
import socket
import sys

import pytest
from mlmd_kfp_run import CONFUSION, DATASET, HTML, MARKDOWN, MODEL, PIPELINE_SPEC, ROC

from jupyter_dsp.connection.model import Connection, Space
from jupyter_dsp.connection.settings import DSPSettings
from jupyter_dsp.results.cluster import cluster_results, open_artifact
from jupyter_dsp.results.mlmd.errors import MLMDError
from jupyter_dsp.results.objectstore import ObjectStoreError

RUN_A = {
    "run_id": "run-team-a-1",
    "experiment_id": "exp-1",
    "state": "SUCCEEDED",
    "pipeline_spec": PIPELINE_SPEC,
}
RUN_B = {"run_id": "run-team-b-1", "state": "SUCCEEDED", "pipeline_spec": PIPELINE_SPEC}


def connection(mode: str, token: str | None = None, ca: str | None = None) -> Connection:
    project = Space(
        name="project",
        endpoint="https://ds-pipeline-dspa.team-a.svc.cluster.local:8443"
        if mode == "cluster-dspa"
        else "http://ml-pipeline.kubeflow.svc.cluster.local:8888",
        namespace="team-a",
        multi_user=mode == "cluster-kubeflow",
        writable=True,
        ca_bundle=ca,
        ca_source="KF_PIPELINES_SSL_SA_CERTS" if ca else None,
        _token=lambda: token,
    )
    return Connection(
        mode=mode,
        namespace="team-a",
        identity="system:serviceaccount:team-a:nb",
        policy="read-only",
        project=project,
        shared=None,
        dspa_name="dspa" if mode == "cluster-dspa" else None,
    )


def settings(
    tmp_path, endpoint: str, transport: str = "", public: str | None = None, cos: dict | None = None
):
    runtimes = tmp_path / "runtimes"
    runtimes.mkdir(exist_ok=True)
    if public or cos:
        meta = {"api_endpoint": "https://x", "public_api_endpoint": public, **(cos or {})}
        (runtimes / "odh_dsp.json").write_text(json.dumps({"metadata": meta}))
    return DSPSettings(
        mlmd_endpoint=endpoint,
        mlmd_transport=transport,
        runtimes_dir=str(runtimes),
        connect_timeout=5.0,
    )


@pytest.fixture
def kubeflow(mlmd_cluster, tmp_path):
    return connection("cluster-kubeflow"), settings(tmp_path, mlmd_cluster.grpc_target)


@pytest.fixture
def dsp(mlmd_cluster, tmp_path):
    conn = connection("cluster-dspa", token="good-token", ca=str(mlmd_cluster.ca_path))
    public = "https://dashboard.example.com/experiments/team-a/"
    return conn, settings(tmp_path, mlmd_cluster.grpcweb_url, public=public)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_same_run_over_grpc_and_grpc_web_is_one_document(mlmd_cluster, kubeflow, dsp):
    env = mlmd_cluster.s3_env()
    over_grpc = cluster_results(*kubeflow, RUN_A, environ=env)
    over_web = cluster_results(*dsp, RUN_A, environ=env)
    assert over_grpc["unavailable"] is None, over_grpc["unavailable"]
    assert over_web["unavailable"] is None, over_web["unavailable"]
    assert over_grpc["ui_url"] == "/pipeline/#/runs/details/run-team-a-1"
    assert (
        over_web["ui_url"]
        == "https://dashboard.example.com/experiments/team-a/exp-1/runs/run-team-a-1"
    )
    over_grpc.pop("ui_url"), over_web.pop("ui_url")
    assert over_grpc == over_web
    # the web front really checked a token for each call
    assert ("ml_metadata.MetadataStoreService/GetContextByTypeAndName", 200) in (
        mlmd_cluster.front.requests
    )


def test_document_has_every_output_as_kfp_recorded_it(mlmd_cluster, kubeflow):
    doc = cluster_results(*kubeflow, RUN_A, environ=mlmd_cluster.s3_env())
    assert (doc["run_id"], doc["state"], doc["source"]) == ("run-team-a-1", "SUCCEEDED", "mlmd")
    tasks = {(t["name"], t["iteration_index"]): t for t in doc["tasks"]}
    make, train, report = tasks["make-data", None], tasks["train", None], tasks["report", None]
    assert make["outputs"]["parameters"] == {"rows": 3}
    [dataset] = make["outputs"]["artifacts"]["dataset"]
    assert dataset["type"] == "system.Dataset"
    assert dataset["size"] == len(DATASET)
    assert dataset["uri"].startswith("minio://mlpipeline/v2/artifacts/results-demo/run-team-a-1/")
    # the same artifact is named by the consumer's input name there
    [data] = train["inputs"]["artifacts"]["data"]
    assert data["artifact_id"] == dataset["artifact_id"] and data["name"] == "data"
    assert train["inputs"]["parameters"] == {"lr": 0.1, "epochs": 3}
    assert train["outputs"]["parameters"] == {"Output": 0.93}
    [metrics] = train["outputs"]["artifacts"]["metrics"]
    assert (metrics["type"], metrics["metadata"]) == (
        "system.Metrics",
        {"accuracy": 0.93, "loss": 0.21},
    )
    [cm] = train["outputs"]["artifacts"]["cm"]
    assert cm["type"] == "system.ClassificationMetrics"
    assert cm["metadata"] == {"confusionMatrix": CONFUSION, "confidenceMetrics": ROC}
    [model] = train["outputs"]["artifacts"]["model"]
    assert model["metadata"] == {
        "framework": "sklearn",
        "calibrated": 1,
    }  # KFP stores bools as ints
    assert model["size"] == len(MODEL)
    assert report["state"] == "CACHED" and report["cached"] is True
    types = {n: a[0]["type"] for n, a in report["outputs"]["artifacts"].items()}
    assert types == {"report": "system.HTML", "notes": "system.Markdown"}
    # the loop: one iteration DAG per item, each with its square task
    loop = tasks["for-loop-2", None]
    iterations = [t for t in doc["tasks"] if t["parent_task_id"] == loop["task_id"]]
    assert sorted(t["iteration_index"] for t in iterations) == [0, 1, 2]
    squares = sorted(
        (t["iteration_index"], t["inputs"]["parameters"]["x"], t["outputs"]["parameters"]["Output"])
        for t in doc["tasks"]
        if t["name"] == "square"
    )
    assert squares == [(0, 1, 1), (1, 2, 4), (2, 3, 9)]
    assert {t["parent_task_id"] for t in doc["tasks"] if t["name"] == "square"} == {
        t["task_id"] for t in iterations
    }
    # pipeline outputs: resolved through the spec's root DAG outputs, the loop collected
    assert doc["pipeline_outputs"]["parameters"] == {"accuracy": 0.93, "squares": [1, 4, 9]}
    [final] = doc["pipeline_outputs"]["artifacts"]["final-metrics"]
    assert final["artifact_id"] == metrics["artifact_id"]
    assert "store_session_info" not in json.dumps(doc)  # KFP's own properties stay out


def test_wrong_token_and_missing_grant_are_named(mlmd_cluster, dsp):
    conn, conf = dsp
    conn.project._token = lambda: "not-a-token"
    doc = cluster_results(conn, conf, RUN_A, environ=mlmd_cluster.s3_env())
    assert doc["tasks"] == [] and doc["ui_url"].endswith("/runs/run-team-a-1")
    assert "token was rejected (401)" in doc["unavailable"]
    conn.project._token = lambda: "ungranted-token"
    doc = cluster_results(conn, conf, RUN_A, environ=mlmd_cluster.s3_env())
    assert "403 Forbidden for system:serviceaccount:team-a:nb" in doc["unavailable"]
    assert (
        "needs create on datasciencepipelinesapplications/api 'dspa' in namespace team-a "
        "(Role ds-pipeline-user-access-dspa)" in doc["unavailable"]
    )
    assert "Traceback" not in doc["unavailable"] and "ungranted-token" not in json.dumps(doc)


def test_kubeflow_refuses_a_run_of_another_namespace(mlmd_cluster, kubeflow):
    doc = cluster_results(*kubeflow, RUN_B, environ=mlmd_cluster.s3_env())
    assert doc["tasks"] == [] and doc["pipeline_outputs"]["artifacts"] == {}
    assert (
        "belongs to namespace 'team-b', not to the project namespace 'team-a'"
        in (doc["unavailable"])
    )
    b_model = mlmd_cluster.runs["run-team-b-1"]["artifacts"]["model"]
    with pytest.raises(MLMDError) as err:
        open_artifact(*kubeflow, RUN_B, str(b_model), environ=mlmd_cluster.s3_env())
    assert err.value.status == 403


def test_artifact_bytes_streamed_with_a_range(mlmd_cluster, dsp):
    env = mlmd_cluster.s3_env()
    ids = mlmd_cluster.runs["run-team-a-1"]["artifacts"]
    art, read = open_artifact(*dsp, RUN_A, str(ids["dataset"]), 100, 4195, environ=env)
    chunks = list(read.chunks)
    assert art["name"] == "dataset" and art["size"] == len(DATASET)
    assert (read.start, read.end, read.length) == (100, 4195, 4096)
    assert b"".join(chunks) == DATASET[100:4196]
    art, read = open_artifact(*dsp, RUN_A, str(ids["model"]), environ=env)
    data = b"".join(read.chunks)
    assert data == MODEL and len(data) == art["size"]
    for name, body in (("report", HTML), ("notes", MARKDOWN)):
        art, read = open_artifact(*dsp, RUN_A, str(ids[name]), environ=env)
        assert b"".join(read.chunks) == body
    with pytest.raises(ObjectStoreError) as err:
        open_artifact(*dsp, RUN_A, str(ids["dataset"]), len(DATASET) + 5, None, environ=env)
    assert err.value.status == 416
    # an artifact of another run is not reachable through this run
    b_model = mlmd_cluster.runs["run-team-b-1"]["artifacts"]["model"]
    with pytest.raises(MLMDError) as err2:
        open_artifact(*dsp, RUN_A, str(b_model), environ=env)
    assert err2.value.status == 404


def test_mlmd_down_gives_a_reason_and_the_ui_link(mlmd_cluster, tmp_path):
    port = closed_port()
    for conn, endpoint in (
        (connection("cluster-kubeflow"), f"127.0.0.1:{port}"),
        (
            connection("cluster-dspa", "good-token", str(mlmd_cluster.ca_path)),
            f"https://127.0.0.1:{port}",
        ),
    ):
        conf = settings(tmp_path, endpoint, public="https://dash.example.com/experiments/team-a")
        doc = cluster_results(conn, conf, RUN_A, environ=mlmd_cluster.s3_env(), timeout=3)
        assert doc["tasks"] == [] and doc["state"] == "SUCCEEDED"
        assert doc["ui_url"].endswith(("runs/details/run-team-a-1", "/runs/run-team-a-1"))
        reason = doc["unavailable"]
        assert f"ML Metadata at 127.0.0.1:{port}" in reason or f"127.0.0.1:{port}" in reason
        assert "unreachable" in reason or "refused" in reason, reason
        assert "Traceback" not in reason


def test_s3_down_keeps_the_results_and_says_why(mlmd_cluster, kubeflow):
    env = dict(mlmd_cluster.s3_env(), AWS_S3_ENDPOINT=f"http://127.0.0.1:{closed_port()}")
    doc = cluster_results(*kubeflow, RUN_A, environ=env)
    assert len(doc["tasks"]) == 10
    assert doc["unavailable"].startswith("artifact sizes: object storage http://127.0.0.1:")
    assert "unreachable" in doc["unavailable"]
    sizes = {
        a["size"] for t in doc["tasks"] for lst in t["outputs"]["artifacts"].values() for a in lst
    }
    assert sizes == {None}


def test_tls_failure_names_the_ca_bundle(mlmd_cluster, dsp, tmp_path):
    from server_helpers import make_ca

    other, _, _ = make_ca(tmp_path, "other-ca")
    conn, conf = dsp
    conn.project.ca_bundle = str(other)
    doc = cluster_results(conn, conf, RUN_A, sizes=False)
    assert "TLS verification failed against CA bundle" in doc["unavailable"]
    assert str(other) in doc["unavailable"]


def test_results_come_without_the_ml_metadata_package(kubeflow, monkeypatch):
    """The reader's messages are the project's own: with ml-metadata unimportable, a run's
    results still come (and no page says the package is missing)."""
    for name in ("ml_metadata", "ml_metadata.proto", "ml_metadata.proto.metadata_store_pb2"):
        monkeypatch.setitem(sys.modules, name, None)
    doc = cluster_results(*kubeflow, RUN_A, sizes=False)
    assert doc["unavailable"] is None and doc["source"] == "mlmd"
    assert {t["name"] for t in doc["tasks"]} >= {"make-data", "train", "report", "square"}
    assert doc["ui_url"] == "/pipeline/#/runs/details/run-team-a-1"


def test_unknown_run_is_said_plainly(kubeflow):
    doc = cluster_results(*kubeflow, {"run_id": "no-such-run", "state": "PENDING"}, sizes=False)
    assert doc["state"] == "PENDING" and doc["tasks"] == []
    assert "has no record of run no-such-run yet" in doc["unavailable"]


def test_a_grpc_status_crosses_the_web_front(mlmd_cluster):
    from jupyter_dsp.results.mlmd import proto as pb
    from jupyter_dsp.results.mlmd.grpcweb import GrpcWebChannel, GrpcWebError

    channel = GrpcWebChannel(
        mlmd_cluster.grpcweb_url, token=lambda: "good-token", ca_bundle=str(mlmd_cluster.ca_path)
    )
    stub = pb.MetadataStoreStub(channel)
    found = stub.GetContextByTypeAndName(
        pb.request(
            "GetContextByTypeAndName", type_name="system.PipelineRun", context_name="run-team-a-1"
        )
    )
    assert found.context.custom_properties["namespace"].string_value == "team-a"
    put_type = channel.unary_unary(f"/{pb.SERVICE}/PutArtifactType")
    with pytest.raises(GrpcWebError) as err:  # the servicer does not offer writes
        put_type(b"")
    assert err.value.grpc_status == 12 and err.value.http_status is None  # UNIMPLEMENTED
    channel.close()


def test_pipeline_server_storage_from_the_runtime_file(mlmd_cluster, tmp_path):
    """No data connection: the notebook controller's runtime file names the DSPA's storage."""
    cos = {
        "cos_endpoint": mlmd_cluster.s3_endpoint,
        "cos_bucket": "mlpipeline",
        "cos_username": "AKIDRUNTIME",
        "cos_password": "runtime-secret",
    }
    conn = connection("cluster-dspa", token="good-token", ca=str(mlmd_cluster.ca_path))
    conf = settings(tmp_path, mlmd_cluster.grpcweb_url, cos=cos)
    ids = mlmd_cluster.runs["run-team-a-1"]["artifacts"]
    for env in (
        {},  # nothing attached
        {  # a data connection to other storage: the pipeline bucket still uses the runtime file
            "AWS_S3_ENDPOINT": f"http://127.0.0.1:{closed_port()}",
            "AWS_ACCESS_KEY_ID": "other",
            "AWS_SECRET_ACCESS_KEY": "other",
        },
    ):
        art, read = open_artifact(conn, conf, RUN_A, str(ids["notes"]), environ=env)
        assert b"".join(read.chunks) == MARKDOWN
        doc = cluster_results(conn, conf, RUN_A, environ=env)
        assert doc["unavailable"] is None, doc["unavailable"]
        assert "runtime-secret" not in json.dumps(doc)


def test_the_store_served_is_the_one_asked_for(mlmd_cluster, kubeflow, record_property):
    """ml-metadata's real store wherever the tests can have it: in this process, or in the
    process of the Python that ``JUPYTER_DSP_TEST_MLMD_PYTHON`` names (a Python 3.12 run)."""
    import importlib.util
    import os

    record_property("mlmd_store", mlmd_cluster.kind)
    if os.environ.get("JUPYTER_DSP_TEST_MLMD_STORE") == "memory":
        assert mlmd_cluster.kind == "test-built"
    elif importlib.util.find_spec("ml_metadata"):
        assert mlmd_cluster.kind == "ml-metadata"
    elif os.environ.get("JUPYTER_DSP_TEST_MLMD_PYTHON"):
        assert mlmd_cluster.kind == "ml-metadata (its own process)"
    else:
        assert mlmd_cluster.kind == "test-built"
    # the runs are readable whatever the store
    doc = cluster_results(*kubeflow, RUN_A, sizes=False)
    assert doc["unavailable"] is None and len(doc["tasks"]) == 10
