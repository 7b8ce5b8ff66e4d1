"""Run locally from a (simulated) cluster workbench: the panel's API path ``dsp/api/local`` and
``%dsp run ... --local`` run on a local stack the Jupyter server owns, while the cluster's stack
(a separate loopback stack found through a fake Kubernetes API's DSPA) gets no pipeline and no
run."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request

import pytest
from fake_kube_api import make_dspa
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from kernel_helpers import pipeline_source
from tornado.httpclient import HTTPClientError
from traitlets.config import Config

from jupyter_dsp.client import Run, compile_source
from jupyter_dsp.connection.local_stack import find_local_stack

pytest_plugins = ("pytest_jupyter.jupyter_server", "fixtures_cluster", "fixtures_server")

LOCAL = ("dsp", "api", "local", "apis", "v2beta1")
PROJECT = ("dsp", "api", "project", "apis", "v2beta1")


@pytest.fixture
def jp_server_config(dsp_server_config):
    return dsp_server_config


@pytest.fixture
def cluster(sa_dir, fake_kube, stack_factory):
    """A stack standing in for the namespace's DSPA, reached with the service-account token."""
    handle = stack_factory(default_namespace="team-a", tokens={"sa": ({"team-a": "edit"}, "view")})
    sa_dir.rotate(handle.tokens["sa"])
    fake_kube.dspas["team-a"] = [make_dspa("dspa", "team-a", url=handle.url)]
    return handle


def stack_get(handle, path: str) -> dict:
    """Read the cluster stack directly (its own admin token), not through the proxy."""
    req = urllib.request.Request(f"{handle.url}/apis/v2beta1/{path}")
    req.add_header("Authorization", f"Bearer {handle.token}")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def cluster_counts(handle) -> tuple[int, int]:
    pipelines = stack_get(handle, "pipelines?namespace=team-a").get("pipelines") or []
    runs = stack_get(handle, "runs?namespace=team-a").get("runs") or []
    return len(pipelines), len(runs)


def adder_spec(tmp_path, name: str) -> dict:
    path = tmp_path / f"{name}.py"
    path.write_text(pipeline_source(name))
    return compile_source(str(path)).spec


async def wait_local_run(jp_fetch, run_id: str, timeout: float = 180.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        run = json.loads((await jp_fetch(*LOCAL, "runs", run_id)).body)
        if run.get("state") in ("SUCCEEDED", "FAILED", "CANCELED"):
            return run
        assert time.monotonic() < deadline, f"run still {run.get('state')}"
        await asyncio.sleep(0.5)


async def test_panel_path_runs_on_the_local_stack_and_leaves_the_cluster_untouched(
    cluster, jp_fetch, tmp_path, unique_name
):
    info = json.loads((await jp_fetch("dsp", "info")).body)
    assert info["mode"] == "cluster-dspa" and info["namespace"] == "team-a"
    assert find_local_stack() is None  # started on first use, not before

    # what the panel's "Run locally" sends: the version's spec inline, in the local space
    name = unique_name("local")
    body = {
        "display_name": f"{name} run",
        "pipeline_spec": adder_spec(tmp_path, name),
        "runtime_config": {"parameters": {"a": 2, "b": 0.5, "label": "local", "flags": []}},
    }
    r = await jp_fetch(*LOCAL, "runs", method="POST", body=json.dumps(body))
    run_id = json.loads(r.body)["run_id"]
    local = find_local_stack()
    assert local is not None and local.url != cluster.url
    assert local.owner_pid is not None  # owned by this (the Jupyter server's) process

    run = await wait_local_run(jp_fetch, run_id)
    assert run["state"] == "SUCCEEDED", run.get("error")
    tasks = {t["display_name"]: t for t in run["run_details"]["task_details"]}
    log = await jp_fetch(*LOCAL, "runs", run_id, "tasks", tasks["report"]["task_id"], "logs")
    assert b"local: total=2.5" in log.body

    # listed in the local space, pinned to the project's namespace
    listed = json.loads((await jp_fetch(*LOCAL, "runs")).body)["runs"]
    assert [x["run_id"] for x in listed] == [run_id]
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch(*LOCAL, "runs", params={"namespace": "team-b"})
    assert err.value.code == 403
    # the same allowlist as the project space
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("dsp", "api", "local", "apis", "v1beta1", "runs")
    assert err.value.code == 404

    # the cluster's stack: no pipeline, no run; its own listing through the proxy is empty too
    assert cluster_counts(cluster) == (0, 0)
    project_runs = json.loads((await jp_fetch(*PROJECT, "runs")).body).get("runs") or []
    assert project_runs == []


def _magic_in_thread(lines: list[str]) -> list:
    """A real IPython shell (as in a kernel: connect() resolves the cluster from the
    environment) running %dsp lines; in a thread so the Jupyter server keeps answering."""
    config = Config()
    config.HistoryManager.enabled = False
    InteractiveShell.clear_instance()
    sh = InteractiveShell.instance(config=config)
    try:
        sh.run_line_magic("load_ext", "jupyter_dsp")
        out = []
        for line in lines:
            if line.startswith("!"):
                result = sh.run_cell(line[1:])
                result.raise_error()
                out.append(result.result)
            else:
                out.append(sh.run_line_magic("dsp", line))
        return out
    finally:
        InteractiveShell.clear_instance()


async def upload_to_cluster(cluster, tmp_path, name: str) -> None:
    """A pipeline on the cluster, uploaded there directly (not through the code under test)."""
    path = tmp_path / f"{name}.py"
    path.write_text(pipeline_source(name))
    yaml_path = tmp_path / f"{name}.yaml"
    compile_source(str(path)).write(str(yaml_path))

    def upload() -> None:
        import kfp

        client = kfp.Client(host=cluster.url, existing_token=cluster.token, namespace="team-a")
        client.upload_pipeline(str(yaml_path), pipeline_name=name, namespace="team-a")

    await asyncio.to_thread(upload)


async def test_magic_run_local_reads_the_cluster_pipeline_and_runs_it_locally(
    cluster, jp_fetch, jp_serverapp, tmp_path, unique_name, monkeypatch
):
    await jp_fetch("dsp", "info")
    name = unique_name("cl")
    await upload_to_cluster(cluster, tmp_path, name)
    assert cluster_counts(cluster) == (1, 0)
    # the kernel finds its Jupyter server the standard way (jpserver-<pid>.json)
    jp_serverapp.write_server_info_file()
    monkeypatch.chdir(tmp_path)
    assert find_local_stack() is None

    _, run, info, logs, local_runs, results = await asyncio.to_thread(
        _magic_in_thread,
        [
            f"!r = %dsp run {name} -p a=3 -p label=magic --local --wait --timeout 180",
            "!r",
            "info",
            "logs r report",  # r ran locally: its log is read there without --local
            "runs --local",
            "outputs r",  # and its results too
        ],
    )
    assert "magic: total=3.5" in logs.text
    assert results["report"]["Output"] == "magic: total=3.5 flags=[]"
    assert run.id in [x.id for x in local_runs]
    assert isinstance(run, Run)
    assert run.state == "SUCCEEDED", run.error
    assert run.parameters["a"] == 3
    assert info.mode == "cluster-dspa"  # %dsp itself still talks to the cluster
    local = find_local_stack()
    assert local is not None and local.url != cluster.url
    # the run is on the local stack (seen through the server's local space)...
    listed = json.loads((await jp_fetch(*LOCAL, "runs")).body)["runs"]
    assert run.id in [x["run_id"] for x in listed]
    # ...and the cluster got nothing: still one pipeline, no run
    assert cluster_counts(cluster) == (1, 0)

    with pytest.raises(UsageError, match="--timeout goes with --wait"):
        await asyncio.to_thread(_magic_in_thread, [f"run {name} --local --timeout 5"])


async def test_run_form_run_locally_button(cluster, jp_fetch, jp_serverapp, tmp_path, unique_name):
    await jp_fetch("dsp", "info")
    name = unique_name("form")
    await upload_to_cluster(cluster, tmp_path, name)
    jp_serverapp.write_server_info_file()

    def use_the_form() -> tuple[Run, Run, str]:
        from jupyter_dsp.client import connect
        from jupyter_dsp.client.local import local_client
        from jupyter_dsp.widgets import RunForm

        client = connect()  # as in a kernel: the cluster
        form = RunForm(client, name, watch=False)
        display = form.local_button.layout.display
        form.inputs["a"].value = "4"
        run = form.submit(local=True)
        assert run is not None, form.status.value
        return run, local_client(client.namespace).wait(run.id, timeout=180), display

    run, done, display = await asyncio.to_thread(use_the_form)
    assert display == ""  # offered in a cluster workbench
    assert done.state == "SUCCEEDED", done.error
    assert done.parameters["a"] == 4
    assert cluster_counts(cluster) == (1, 0)


async def test_unauthenticated_requests_are_refused_and_start_nothing(
    cluster, jp_fetch, server_url
):
    from tornado.httpclient import AsyncHTTPClient

    await jp_fetch("dsp", "info")
    client = AsyncHTTPClient()
    for method, body in (("GET", None), ("POST", b"{}")):
        r = await client.fetch(
            f"{server_url}dsp/api/local/apis/v2beta1/runs",
            method=method,
            body=body,
            raise_error=False,
        )
        assert r.code == 403
    assert find_local_stack() is None  # no stack was started for them


def test_manager_reuses_the_announced_stack_and_stops_only_its_own(tmp_path, monkeypatch):
    from jupyter_dsp.connection.embedded import healthy
    from jupyter_dsp.connection.local_stack import LocalStackManager, local_runtime_file

    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    first = LocalStackManager("team-a")
    info = first.ensure()
    try:
        assert first.owned and (local_runtime_file().stat().st_mode & 0o777) == 0o600
        # a second manager (say, after the server restarted its extension) reuses the running
        # stack instead of starting another one on the same data dir
        second = LocalStackManager("team-a")
        assert second.ensure().url == info.url and not second.owned
        second.stop()  # not its own: the stack keeps running
        assert healthy(info.url, info.token)
    finally:
        first.stop()
    assert not healthy(info.url, info.token)
    assert not local_runtime_file().exists()
