"""Runs through the proxy with the official kfp.Client, exactly as against the stack, and the
run's task log through dsp/logs."""

from __future__ import annotations

import asyncio
import json

import kfp
import pytest
from server_helpers import REFERENCE

pytest_plugins = ("pytest_jupyter.jupyter_server", "fixtures_cluster", "fixtures_server")

ADD_NUMBERS = REFERENCE / "kfp-compiled-pipelines" / "valid" / "critical" / "add_numbers.yaml"


@pytest.fixture
def jp_server_config(dsp_server_config):
    return dsp_server_config


def run_and_wait(client: kfp.Client, pipeline_name: str, experiment: str, b: int) -> dict:
    pipeline = client.upload_pipeline(str(ADD_NUMBERS), pipeline_name=pipeline_name)
    version = client.list_pipeline_versions(pipeline.pipeline_id).pipeline_versions[0]
    exp = client.create_experiment(experiment)
    run = client.run_pipeline(
        experiment_id=exp.experiment_id,
        job_name=f"{pipeline_name}-run",
        params={"a": 1, "b": b},
        pipeline_id=pipeline.pipeline_id,
        version_id=version.pipeline_version_id,
    )
    done = client.wait_for_run_completion(run.run_id, timeout=240)
    listed = client.list_runs(experiment_id=exp.experiment_id).runs or []
    return {"run": done, "listed": [r.run_id for r in listed], "experiment": exp}


async def test_kfp_client_runs_and_waits_through_the_proxy(
    proxied_stack, jp_fetch, server_url, jupyter_token, unique_name
):
    def through_proxy() -> dict:
        client = kfp.Client(host=f"{server_url}dsp/api/project", existing_token=jupyter_token)
        # other inputs than the direct run's, so neither is served from the other's step cache
        return run_and_wait(client, unique_name("proxied"), unique_name("exp"), b=2)

    def direct_to_stack() -> dict:
        client = kfp.Client(host=proxied_stack.url, existing_token=proxied_stack.token)
        return run_and_wait(client, unique_name("direct"), unique_name("exp"), b=3)

    proxied, direct = await asyncio.gather(
        asyncio.to_thread(through_proxy), asyncio.to_thread(direct_to_stack)
    )
    assert proxied["run"].state == direct["run"].state == "SUCCEEDED"
    assert proxied["run"].run_id in proxied["listed"]
    assert proxied["experiment"].namespace == "default"

    # the task's log through dsp/logs, same contract as the stack's endpoint
    r = await jp_fetch("dsp", "api", "project", "apis", "v2beta1", "runs", proxied["run"].run_id)
    tasks = json.loads(r.body)["run_details"]["task_details"]
    task_ids = [t["task_id"] for t in tasks]
    assert task_ids
    got_log = False
    for task_id in task_ids:
        log = await jp_fetch("dsp", "logs", proxied["run"].run_id, task_id)
        assert log.headers["X-Log-Complete"] == "true"
        assert int(log.headers["X-Log-Next-Offset"]) == len(log.body)
        got_log = got_log or bool(log.body)
    assert got_log
    assert proxied_stack.token not in r.body.decode()


async def test_run_in_another_namespaces_experiment_is_403(proxied_stack, jp_fetch, unique_name):
    other_token = proxied_stack.create_token("other-team", {"other": "edit"}, "view")
    # the notebook's identity may write in another namespace too (a contributor elsewhere):
    # the stack would accept the run there, the proxy must not
    broad = proxied_stack.create_token("nb", {"default": "edit", "other": "edit"}, "edit")
    proxied_stack.token_file.write_text(broad)

    def other_experiment() -> str:
        client = kfp.Client(host=proxied_stack.url, existing_token=other_token)
        return client.create_experiment(unique_name("theirs"), namespace="other").experiment_id

    experiment_id = await asyncio.to_thread(other_experiment)
    body = {
        "display_name": "sneaky",
        "experiment_id": experiment_id,
        "pipeline_spec": {"pipelineInfo": {"name": "x"}},
    }
    from tornado.httpclient import HTTPClientError

    with pytest.raises(HTTPClientError) as err:
        await jp_fetch(
            "dsp", "api", "project", "apis", "v2beta1", "runs", method="POST", body=json.dumps(body)
        )
    assert err.value.code == 403
    assert "project's namespace" in json.loads(err.value.response.body)["message"]
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch(
            "dsp", "api", "project", "apis", "v2beta1", "runs", params={"namespace": "other"}
        )
    assert err.value.code == 403


async def test_another_namespaces_run_and_experiment_by_id_are_403(
    proxied_stack, jp_fetch, unique_name
):
    """Pinning covers requests by id too: the notebook's identity may reach another namespace
    (a contributor elsewhere), the project space must not."""
    broad = proxied_stack.create_token("nb", {"default": "edit", "other": "edit"}, "edit")
    proxied_stack.token_file.write_text(broad)
    theirs = kfp.Client(host=proxied_stack.url, existing_token=broad)

    def other_run() -> tuple[str, str]:
        exp = theirs.create_experiment(unique_name("theirs"), namespace="other")
        run = theirs.create_run_from_pipeline_package(
            str(ADD_NUMBERS),
            arguments={"a": 1, "b": 2},
            experiment_id=exp.experiment_id,
            namespace="other",
        )
        return exp.experiment_id, run.run_id

    experiment_id, run_id = await asyncio.to_thread(other_run)
    from tornado.httpclient import HTTPClientError

    api = ("dsp", "api", "project", "apis", "v2beta1")
    attempts = [
        (("runs", run_id), "GET", None),
        (("runs", run_id), "DELETE", None),
        (("runs", f"{run_id}:terminate"), "POST", "{}"),
        (("runs", f"{run_id}:archive"), "POST", "{}"),
        (("runs", run_id, "tasks", "x", "logs"), "GET", None),
        (("experiments", experiment_id), "GET", None),
        (("experiments", experiment_id), "DELETE", None),
        (("experiments", f"{experiment_id}:archive"), "POST", "{}"),
    ]
    for path, method, body in attempts:
        with pytest.raises(HTTPClientError) as err:
            await jp_fetch(*api, *path, method=method, body=body)
        assert err.value.code == 403, (path, method)
        assert "not in this project's namespace" in json.loads(err.value.response.body)["message"]
    # nothing was touched: the run and its experiment are still there, unarchived
    run = await asyncio.to_thread(theirs.get_run, run_id)
    assert run.storage_state != "ARCHIVED"
    assert (await asyncio.to_thread(theirs.get_experiment, experiment_id)).experiment_id
    # the project's own run is reachable by id through the same proxy
    mine = await asyncio.to_thread(
        theirs.create_run_from_pipeline_package,
        str(ADD_NUMBERS),
        arguments={"a": 1, "b": 2},
        namespace="default",
    )
    response = await jp_fetch(*api, "runs", mine.run_id)
    assert json.loads(response.body)["run_id"] == mine.run_id
