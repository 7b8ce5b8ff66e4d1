"""The lifecycle operations of the kernel's client through the Jupyter server's proxy
(``dsp/api/project`` and ``dsp/api/shared``, shared policy read-only) to a real embedded
stack: experiments group runs, rerun, diff, delete, and the shared-space policy."""

from __future__ import annotations

import asyncio
import json

import pytest
from kernel_helpers import pipeline_source
from server_helpers import REFERENCE

from jupyter_dsp.client import DSPClient, DSPError, compile_source

pytest_plugins = ("pytest_jupyter.jupyter_server", "fixtures_cluster", "fixtures_server")
pytestmark = pytest.mark.timeout(300)
ADD_NUMBERS = REFERENCE / "kfp-compiled-pipelines" / "valid" / "critical" / "add_numbers.yaml"


@pytest.fixture
def jp_server_config(dsp_server_config):
    return dsp_server_config


@pytest.fixture
def read_only(dsp_config):
    dsp_config["shared_policy"] = "read-only"


def through_proxy(server_url: str, jupyter_token: str, *, shared_writable: bool) -> DSPClient:
    """A client whose project and shared spaces are the proxy's (the browser's path)."""
    return DSPClient.from_endpoint(
        f"{server_url}dsp/api/project",
        jupyter_token,
        namespace="default",
        shared_endpoint=f"{server_url}dsp/api/shared",
        shared_writable=shared_writable,
    )


def write_pipeline(tmp_path, name: str, changed: bool = False) -> str:
    source = pipeline_source(name)
    if changed:
        source = source.replace("b: float = 0.5", "b: float = 0.75")
    path = tmp_path / f"{name}{'-2' if changed else ''}.py"
    path.write_text(source)
    return str(path)


async def test_lifecycle_through_the_proxy(
    read_only, proxied_stack, jp_fetch, server_url, jupyter_token, tmp_path, unique_name
):
    direct = DSPClient.from_endpoint(proxied_stack.url, proxied_stack.token, namespace="default")
    mine, other, shared = unique_name("mine"), unique_name("other"), unique_name("shared")

    def scenario() -> dict:
        proxy = through_proxy(server_url, jupyter_token, shared_writable=True)
        direct.upload(compile_source(write_pipeline(tmp_path, shared)), shared=True)
        proxy.upload(compile_source(write_pipeline(tmp_path, mine)), version="v1")
        proxy.upload(compile_source(write_pipeline(tmp_path, mine, changed=True)), version="v2")
        proxy.upload(compile_source(write_pipeline(tmp_path, other)))

        e1, e2 = unique_name("e1"), unique_name("e2")
        r1 = proxy.run(mine, {"a": 1, "label": "one"}, experiment=e1, wait=True, timeout=240)
        r2 = proxy.run(mine, {"a": 2}, experiment=e2, wait=True, timeout=240)
        exps = proxy.experiments()
        in_e1 = proxy.kfp.runs.run_service_list_runs(experiment_id=exps.by_name(e1).id).runs or []

        again = proxy.rerun(r1, {"a": 9}, wait=True)
        diff = proxy.diff(mine)

        with pytest.raises(DSPError) as refused:
            proxy.remove_pipeline(shared, "shared")
        still_shared = direct.find_pipeline(shared, "shared").name
        with pytest.raises(DSPError) as client_side:
            through_proxy(server_url, jupyter_token, shared_writable=False).remove_pipeline(
                shared, "shared"
            )

        deleted_run = proxy.delete_run(r2.id)
        deleted_version = proxy.delete_version(mine, "v1")
        left_versions = [v.name for v in proxy.versions(mine)]
        deleted = proxy.remove_pipeline(other)
        return {
            "r1": r1,
            "r2": r2,
            "in_e1": [r.run_id for r in in_e1],
            "again": again,
            "diff": diff,
            "refused": refused.value,
            "still_shared": still_shared,
            "client_side": client_side.value,
            "deleted_run": deleted_run,
            "deleted_version": deleted_version,
            "left_versions": left_versions,
            "deleted": deleted,
            "runs_left": [r.id for r in direct.runs(limit=200)],
            "pipelines_left": [p.name for p in direct.list_pipelines("project")],
        }

    out = await asyncio.to_thread(scenario)
    # experiments group runs
    assert out["in_e1"] == [out["r1"].id]
    # rerun: the same version and parameters, with the change
    again = out["again"]
    assert again.state == "SUCCEEDED", again.error
    assert again.parameters == {"a": 9, "label": "one"}
    assert again.version_id == out["r1"].version_id
    assert again.experiment_id == out["r1"].experiment_id
    # diff of the two newest versions
    assert "parameter 'b' default changed: 0.5 -> 0.75" in out["diff"].summary
    # the shared policy: the proxy refuses (403) and the client refuses first when it knows
    assert out["refused"].status == 403, out["refused"]
    assert out["still_shared"] == shared
    assert "read-only" in str(out["client_side"])
    # delete removes what it says and nothing else
    assert out["deleted_run"].id == out["r2"].id
    assert out["r2"].id not in out["runs_left"] and out["r1"].id in out["runs_left"]
    assert again.id in out["runs_left"]
    assert out["left_versions"] == ["v2"]
    assert out["deleted"].kind == "pipeline"
    assert out["pipelines_left"].count(mine) == 1 and other not in out["pipelines_left"]

    # and the panel's diff endpoint agrees on the remaining pipeline (one version left)
    pid = direct.find_pipeline(mine).id
    from tornado.httpclient import HTTPClientError

    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("dsp", "diff", params={"pipeline_id": pid})
    assert err.value.code == 400
    assert "1 version" in json.loads(err.value.response.body)["message"]
