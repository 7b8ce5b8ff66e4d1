"""In a (fake) cluster: the server finds the namespace's DataSciencePipelinesApplication
through the Kubernetes API, proxies with the service-account token (rotated during the test)
and reads task logs from pods/log."""

from __future__ import annotations

import asyncio
import json

import kfp
import pytest
from fake_kube_api import make_dspa
from server_helpers import HELLO

from jupyter_dsp.stack.auth import TokenStore
from jupyter_dsp.stack.db import Database

pytest_plugins = ("pytest_jupyter.jupyter_server", "fixtures_cluster", "fixtures_server")


@pytest.fixture
def jp_server_config(dsp_server_config):
    return dsp_server_config


API = ("dsp", "api", "project", "apis", "v2beta1")


def revoke_subject(handle, subject: str) -> None:
    db = Database(handle.data_dir / "stack.db")
    try:
        store = TokenStore(db.conn)
        for info in store.list():
            if info.subject == subject:
                store.revoke(info.token_id)
    finally:
        db.close()


@pytest.fixture
def cluster(sa_dir, fake_kube, stack_factory):
    """A stack standing in for the namespace's DSPA; the SA token is a token it accepts."""
    handle = stack_factory(
        default_namespace="team-a", tokens={"sa-old": ({"team-a": "edit"}, "view")}
    )
    sa_dir.rotate(handle.tokens["sa-old"])
    fake_kube.dspas["team-a"] = [make_dspa("dspa", "team-a", url=handle.url)]
    return handle


async def test_dspa_discovered_and_rotating_token(
    cluster, sa_dir, fake_kube, jp_fetch, server_url, jupyter_token, unique_name
):
    info = json.loads((await jp_fetch("dsp", "info")).body)
    assert info["mode"] == "cluster-dspa"
    assert info["namespace"] == "team-a"
    assert info["healthy"] is True
    assert sa_dir.token not in json.dumps(info)
    assert any(
        path.endswith("/datasciencepipelinesapplications") for _, path, _ in fake_kube.requests
    )

    name = unique_name("p")

    def upload() -> str:
        project = kfp.Client(host=f"{server_url}dsp/api/project", existing_token=jupyter_token)
        return project.upload_pipeline(str(HELLO), pipeline_name=name).pipeline_id

    pipeline_id = await asyncio.to_thread(upload)
    r = await jp_fetch(*API, "pipelines", pipeline_id)
    assert json.loads(r.body)["namespace"] == "team-a"

    # kubelet rotates the projected token; the old one stops working
    new = cluster.create_token("sa-new", {"team-a": "edit"}, "view")
    sa_dir.rotate(new)
    revoke_subject(cluster, "sa-old")
    r = await jp_fetch(*API, "pipelines")
    assert name in {p["display_name"] for p in json.loads(r.body)["pipelines"]}
    assert new not in r.body.decode()


RUN = {
    "run_id": "run-1",
    "display_name": "r",
    "state": "RUNNING",
    "run_details": {
        "task_details": [
            {
                "run_id": "run-1",
                "task_id": "task-a",
                "display_name": "hello",
                "state": "SUCCEEDED",
                "pod_name": "hello-pipeline-abc-system-container-impl-123",
            },
            {
                "run_id": "run-1",
                "task_id": "task-b",
                "display_name": "later",
                "state": "RUNNING",
                "child_tasks": [{"pod_name": "hello-pipeline-abc-later-456"}],
            },
        ]
    },
}


@pytest.fixture
def cluster_with_fake_kfp(sa_dir, fake_kube, recording_upstream, dsp_config, clean_dsp_env):
    clean_dsp_env.setenv("KF_PIPELINES_ENDPOINT", recording_upstream.url)
    recording_upstream.body = json.dumps(RUN).encode()
    fake_kube.pod_logs[("team-a", "hello-pipeline-abc-system-container-impl-123", "main")] = (
        b"line 1\nline 2\n"
    )
    fake_kube.pod_logs[("team-a", "hello-pipeline-abc-system-container-impl-123", "wait")] = (
        b"argo wait container\n"
    )
    fake_kube.pod_logs[("team-a", "hello-pipeline-abc-later-456", "main")] = b"started\n"
    return fake_kube


async def test_logs_from_the_task_pod(cluster_with_fake_kfp, sa_dir, jp_fetch):
    r = await jp_fetch("dsp", "logs", "run-1", "task-a")
    assert r.body == b"line 1\nline 2\n"
    assert r.headers["X-Log-Next-Offset"] == "14"
    assert r.headers["X-Log-Complete"] == "true"
    assert r.headers["Content-Type"].startswith("text/plain")
    r = await jp_fetch("dsp", "logs", "run-1", "task-a", params={"offset": "7"})
    assert r.body == b"line 2\n"
    r = await jp_fetch("dsp", "logs", "run-1", "task-b")
    assert r.body == b"started\n" and r.headers["X-Log-Complete"] == "false"
    # the Kubernetes API was called with the service-account token
    method, path, auth = cluster_with_fake_kfp.requests[-1]
    assert "limitBytes" in cluster_with_fake_kfp.last_query
    assert path == "/api/v1/namespaces/team-a/pods/hello-pipeline-abc-later-456/log"
    assert auth == f"Bearer {sa_dir.token}"
    from tornado.httpclient import HTTPClientError

    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("dsp", "logs", "run-1", "no-such-task")
    assert err.value.code == 404
    assert json.loads(err.value.response.body)["code"] == 5
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("dsp", "logs", "run-1", "task-a", params={"offset": "-3"})
    assert err.value.code == 400


@pytest.fixture
def kubeflow(sa_dir, fake_kube, stack_factory, clean_dsp_env, tmp_path):
    """No DSPA in the namespace: Kubeflow's multi-user stack, reached with the projected
    pipelines token (not the service-account token)."""
    handle = stack_factory(
        default_namespace="team-a", tokens={"kf-1": ({"team-a": "edit"}, "view")}
    )
    projected = tmp_path / "kubeflow" / "token"
    projected.parent.mkdir()
    projected.write_text(handle.tokens["kf-1"])
    clean_dsp_env.setenv("JUPYTER_DSP_KUBEFLOW_TOKEN_PATH", str(projected))
    clean_dsp_env.setenv("JUPYTER_DSP_KUBEFLOW_ENDPOINT", handle.url)
    handle.projected = projected
    return handle


async def test_kubeflow_with_the_projected_token(kubeflow, sa_dir, jp_fetch, unique_name):
    info = json.loads((await jp_fetch("dsp", "info")).body)
    assert info["mode"] == "cluster-kubeflow"
    assert info["namespace"] == "team-a"
    assert info["spaces"]["project"]["multi_user"] is True
    assert info["spaces"]["shared"]["namespace"] == ""
    assert info["policy"] == "read-only"
    body = json.dumps({"display_name": unique_name("exp")})
    r = await jp_fetch(*API, "experiments", method="POST", body=body)
    assert json.loads(r.body)["namespace"] == "team-a"
    # the projected token rotates; the old one is revoked
    fresh = kubeflow.create_token("kf-2", {"team-a": "edit"}, "view")
    tmp = kubeflow.projected.with_name("token.new")
    tmp.write_text(fresh)
    tmp.replace(kubeflow.projected)
    revoke_subject(kubeflow, "kf-1")
    r = await jp_fetch(*API, "experiments")
    assert r.code == 200 and json.loads(r.body)["experiments"]
