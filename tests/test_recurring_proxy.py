"""Recurring runs through the Jupyter server's proxy (``dsp/api/project``) to a real embedded
stack: kfp.Client schedules, the runs land in the project namespace, disable stops them, and
the project namespace is pinned on create and on reads by id; the shared space has none."""

from __future__ import annotations

import asyncio
import json
import time

import kfp
import pytest
from server_helpers import REFERENCE
from tornado.httpclient import HTTPClientError

from jupyter_dsp.stack.naming import scheduled_time

pytest_plugins = ("pytest_jupyter.jupyter_server", "fixtures_cluster", "fixtures_server")

ADD_NUMBERS = REFERENCE / "kfp-compiled-pipelines" / "valid" / "critical" / "add_numbers.yaml"
API = ("dsp", "api", "project", "apis", "v2beta1")
pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def jp_server_config(dsp_server_config):
    return dsp_server_config


async def test_schedule_through_the_proxy_runs_in_the_project_and_stops_when_disabled(
    proxied_stack, server_url, jupyter_token, unique_name
):
    def scenario() -> dict:
        client = kfp.Client(host=f"{server_url}dsp/api/project", existing_token=jupyter_token)
        pipeline = client.upload_pipeline(str(ADD_NUMBERS), pipeline_name=unique_name("p"))
        version = client.list_pipeline_versions(pipeline.pipeline_id).pipeline_versions[0]
        exp = client.create_experiment(unique_name("nightly"))
        rr = client.create_recurring_run(
            experiment_id=exp.experiment_id,
            job_name="every-two-seconds",
            cron_expression="*/2 * * * * *",
            params={"a": 1, "b": 2},
            pipeline_id=pipeline.pipeline_id,
            version_id=version.pipeline_version_id,
            max_concurrency=5,
        )
        time.sleep(7)
        client.disable_recurring_run(rr.recurring_run_id)
        made = client.list_runs(experiment_id=exp.experiment_id, page_size=100).runs or []
        time.sleep(4)
        later = client.list_runs(experiment_id=exp.experiment_id, page_size=100).runs or []
        listed = client.list_recurring_runs(experiment_id=exp.experiment_id).recurring_runs
        got = client.get_recurring_run(rr.recurring_run_id)
        return {"rr": rr, "made": made, "later": later, "listed": listed, "got": got, "exp": exp}

    out = await asyncio.to_thread(scenario)
    assert out["rr"].namespace == "default"
    assert len(out["made"]) >= 2
    assert {r.recurring_run_id for r in out["made"]} == {out["rr"].recurring_run_id}
    assert len(out["later"]) == len(out["made"])  # disabled: no more runs
    assert [r.recurring_run_id for r in out["listed"]] == [out["rr"].recurring_run_id]
    assert out["got"].status == "DISABLED"


async def test_recurring_runs_are_pinned_to_the_project_namespace(
    proxied_stack, jp_fetch, unique_name
):
    broad = proxied_stack.create_token("nb", {"default": "edit", "other": "edit"}, "edit")
    proxied_stack.token_file.write_text(broad)
    theirs = kfp.Client(host=proxied_stack.url, existing_token=broad)

    def their_schedule() -> tuple[str, str, str]:
        pipeline = theirs.upload_pipeline(
            str(ADD_NUMBERS), pipeline_name=unique_name("p"), namespace="other"
        )
        version = theirs.list_pipeline_versions(pipeline.pipeline_id).pipeline_versions[0]
        exp = theirs.create_experiment(unique_name("theirs"), namespace="other")
        rr = theirs.create_recurring_run(
            experiment_id=exp.experiment_id,
            job_name="theirs",
            cron_expression="0 0 6 * * *",
            params={"a": 1, "b": 2},
            pipeline_id=pipeline.pipeline_id,
            version_id=version.pipeline_version_id,
        )
        return exp.experiment_id, rr.recurring_run_id, pipeline.pipeline_id

    experiment_id, rid, _ = await asyncio.to_thread(their_schedule)
    for path, method, body in [
        (("recurringruns", rid), "GET", None),
        (("recurringruns", rid), "DELETE", None),
        (("recurringruns", f"{rid}:disable"), "POST", "{}"),
        (("recurringruns", f"{rid}:enable"), "POST", "{}"),
    ]:
        with pytest.raises(HTTPClientError) as err:
            await jp_fetch(*API, *path, method=method, body=body)
        assert err.value.code == 403, (path, method)
        assert "project's namespace" in json.loads(err.value.response.body)["message"]

    spec = {"trigger": {"periodic_schedule": {"interval_second": "60"}}, "display_name": "x"}
    for body in [
        {**spec, "namespace": "other"},
        {**spec, "experiment_id": experiment_id},
    ]:
        with pytest.raises(HTTPClientError) as err:
            await jp_fetch(*API, "recurringruns", method="POST", body=json.dumps(body))
        assert err.value.code == 403, body
    for params in [{"namespace": "other"}, {"experiment_id": experiment_id}]:
        with pytest.raises(HTTPClientError) as err:
            await jp_fetch(*API, "recurringruns", params=params)
        assert err.value.code == 403, params

    # a list without a namespace is the project's: theirs is not in it
    r = await jp_fetch(*API, "recurringruns")
    listed = json.loads(r.body).get("recurringRuns", [])
    assert rid not in [x["recurring_run_id"] for x in listed]
    assert broad not in r.body.decode()


async def test_no_recurring_runs_in_the_shared_space(proxied_stack, jp_fetch):
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("dsp", "api", "shared", "apis", "v2beta1", "recurringruns")
    assert err.value.code == 404
    assert "project space" in json.loads(err.value.response.body)["message"]


async def test_schedule_survives_a_stack_restart_behind_the_proxy(
    proxied_stack, stack_factory, server_url, jupyter_token, unique_name
):
    """kill -9 of the stack, back on the same port and data: no trigger fired twice, the
    missed ones caught up (the default), all through the proxy."""
    port = int(proxied_stack.url.rsplit(":", 1)[1])

    def scenario() -> list[str]:
        client = kfp.Client(host=f"{server_url}dsp/api/project", existing_token=jupyter_token)
        pipeline = client.upload_pipeline(str(ADD_NUMBERS), pipeline_name=unique_name("p"))
        version = client.list_pipeline_versions(pipeline.pipeline_id).pipeline_versions[0]
        exp = client.create_experiment(unique_name("restart"))
        rr = client.create_recurring_run(
            experiment_id=exp.experiment_id,
            job_name="every-second",
            interval_second=1,
            params={"a": 1, "b": 2},
            pipeline_id=pipeline.pipeline_id,
            version_id=version.pipeline_version_id,
            max_concurrency=10,
        )
        time.sleep(3)
        proxied_stack.kill()
        time.sleep(3)
        stack_factory(data_dir=proxied_stack.data_dir, port=port)
        time.sleep(3)
        client.disable_recurring_run(rr.recurring_run_id)
        runs = client.list_runs(experiment_id=exp.experiment_id, page_size=200).runs or []
        return [r.display_name for r in runs if r.recurring_run_id == rr.recurring_run_id]

    names = await asyncio.to_thread(scenario)
    stamps = sorted(int(scheduled_time(name).timestamp()) for name in names)  # type: ignore[union-attr]
    assert len(stamps) == len(set(stamps)), f"a trigger fired twice: {stamps}"
    seconds = stamps
    assert [b - a for a, b in zip(seconds, seconds[1:], strict=False)] == [1] * (len(seconds) - 1)
    assert len(seconds) >= 7  # ~3 s before, ~3 s down (caught up), ~3 s after
