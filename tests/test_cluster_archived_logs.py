"""Issue 14: in cluster modes a task's log comes from its pod while the pod exists, and from the
API server's archived log (KFP ``GET /apis/v1alpha1/runs/{run}/nodes/{node}/log``) once
Kubernetes has collected the pod (the fake Kubernetes API answers 404), with the same offsets;
a log that neither has says why. The API server is the real embedded stack, behind a front that
adds each task's pod name as a cluster's KFP API does."""

from __future__ import annotations

import asyncio
import json

import kfp
import pytest
from server_helpers import REFERENCE
from tornado.httpclient import HTTPClientError
from upstream_fronts import GoQueryFront

pytest_plugins = ("pytest_jupyter.jupyter_server", "fixtures_cluster", "fixtures_server")

ADD_NUMBERS = REFERENCE / "kfp-compiled-pipelines" / "valid" / "critical" / "add_numbers.yaml"


@pytest.fixture
def jp_server_config(dsp_server_config):
    return dsp_server_config


def with_pod_names(path: str, body: bytes) -> bytes:
    """A cluster's KFP API names each task's pod; here the pod is named after the task."""
    parts = path.split("/")
    if len(parts) != 4 or parts[:3] != ["apis", "v2beta1", "runs"]:
        return body
    run = json.loads(body)
    for task in (run.get("run_details") or {}).get("task_details") or []:
        task["pod_name"] = task["task_id"]
    return json.dumps(run).encode()


@pytest.fixture
def cluster(sa_dir, fake_kube, stack_factory, clean_dsp_env, tmp_path):
    handle = stack_factory(
        default_namespace="team-a", tokens={"kf-1": ({"team-a": "edit"}, "view")}
    )
    front = GoQueryFront(handle.url, rewrite=with_pod_names).start()
    projected = tmp_path / "kubeflow" / "token"
    projected.parent.mkdir()
    projected.write_text(handle.tokens["kf-1"])
    clean_dsp_env.setenv("JUPYTER_DSP_KUBEFLOW_TOKEN_PATH", str(projected))
    clean_dsp_env.setenv("JUPYTER_DSP_KUBEFLOW_ENDPOINT", front.url)
    handle.kube = fake_kube
    handle.front = front
    yield handle
    front.stop()


async def test_log_is_read_from_the_archive_after_the_pod_is_gone(cluster, jp_fetch):
    client = kfp.Client(host=cluster.url, existing_token=cluster.tokens["kf-1"])

    def run_it():
        run = client.create_run_from_pipeline_package(
            str(ADD_NUMBERS), arguments={"a": 1, "b": 2}, namespace="team-a"
        )
        return client.wait_for_run_completion(run.run_id, timeout=240)

    run = await asyncio.to_thread(run_it)
    assert run.state == "SUCCEEDED"
    task_id = next(
        t.task_id for t in run.run_details.task_details if t.display_name == "add-numbers"
    )
    archived = (cluster.data_dir / "runs" / run.run_id / "logs" / f"{task_id}.log").read_bytes()
    assert archived

    # while the pod exists, its log is what dsp/logs serves
    cluster.kube.pod_logs[("team-a", task_id, "main")] = b"from the pod\n"
    r = await jp_fetch("dsp", "logs", run.run_id, task_id)
    assert r.body == b"from the pod\n"

    # the pod is collected: Kubernetes says 404, the archived log answers, with offsets
    del cluster.kube.pod_logs[("team-a", task_id, "main")]
    r = await jp_fetch("dsp", "logs", run.run_id, task_id)
    assert r.body == archived
    assert r.headers["X-Log-Next-Offset"] == str(len(archived))
    assert r.headers["X-Log-Complete"] == "true"
    assert r.headers["X-Log-Size"] == str(len(archived))
    r = await jp_fetch("dsp", "logs", run.run_id, task_id, params={"offset": "10"})
    assert r.body == archived[10:]
    assert cluster.kube.requests[-1][1].endswith(f"/pods/{task_id}/log")

    # neither the pod nor the archive has it: the answer says both
    (cluster.data_dir / "runs" / run.run_id / "logs" / f"{task_id}.log").unlink()
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("dsp", "logs", run.run_id, task_id)
    assert err.value.code == 404
    message = json.loads(err.value.response.body)["message"]
    assert f"pod {task_id} is gone" in message
    assert "no archived log" in message and "log archiving" in message


async def test_stack_serves_kfps_v1alpha1_log_endpoint(cluster):
    """The embedded stack answers the endpoint as KFP does: text/plain, api.Error JSON."""
    import requests

    token = cluster.tokens["kf-1"]
    headers = {"Authorization": f"Bearer {token}"}
    r = await asyncio.to_thread(
        requests.get, f"{cluster.url}/apis/v1alpha1/runs/nope/nodes/x/log", headers=headers
    )
    assert r.status_code == 404
    assert set(r.json()) == {"error_message", "error_details"}


async def test_kernel_reads_the_archived_log_on_a_real_kfp_api(cluster):
    """A cluster's KFP API server has no tasks/{task}/logs route (the embedded stack's
    extension): the kernel reads the v1alpha1 endpoint instead, windowed by offset."""
    from jupyter_dsp.client import DSPClient, DSPError

    cluster.front.missing = ("/logs",)
    token = cluster.tokens["kf-1"]
    client = DSPClient.from_endpoint(cluster.front.url, token, namespace="team-a")

    def run_and_read():
        run = client.run(str(ADD_NUMBERS), {"a": 1, "b": 2}, wait=True, timeout=240)
        task = run.task("add-numbers")
        archived = (cluster.data_dir / "runs" / run.id / "logs" / f"{task.id}.log").read_bytes()
        whole = client.log_chunk(run.id, task.id)
        tail = client.log_chunk(run.id, task.id, 10)
        (cluster.data_dir / "runs" / run.id / "logs" / f"{task.id}.log").unlink()
        try:
            client.log_chunk(run.id, task.id)
            gone = None
        except DSPError as exc:
            gone = str(exc)
        return archived, whole, tail, gone

    archived, whole, tail, gone = await asyncio.to_thread(run_and_read)
    assert whole.text.encode() == archived and whole.complete
    assert whole.next_offset == len(archived) == whole.size
    assert tail.text.encode() == archived[10:]
    assert gone is not None and "archived log" in gone
