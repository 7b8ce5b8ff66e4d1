"""Runs through the embedded stack's HTTP API, driven by the official kfp.Client and raw REST.

Every test talks to a real stack (child process on 127.0.0.1). (No ``from __future__ import
annotations``: kfp reads the components' annotations.)
"""

from pathlib import Path

import pytest
import runner_api_helpers
from kfp_server_api.exceptions import ApiException
from runner_api_helpers import client, create, wait_state, wait_until
from stack_http import VALID, call
from step_files import host_pids_with, marker, work_file

packages = runner_api_helpers.packages  # a fixture


def test_kfp_client_runs_a_package_and_sees_outputs(stack, packages):
    c = client(stack)
    result = c.create_run_from_pipeline_package(packages["adder"], arguments={"a": 32})
    run = c.wait_for_run_completion(result.run_id, timeout=120, sleep_duration=0.2)
    assert run.state == "SUCCEEDED"
    got = c.get_run(result.run_id)
    assert got.state == "SUCCEEDED" and got.runtime_config.parameters == {"a": 32}
    assert got.experiment_id == c.get_experiment(experiment_name="Default").experiment_id
    [task] = got.run_details.task_details
    assert task.display_name == "add" and task.state == "SUCCEEDED"
    raw = call(stack, "GET", f"/runs/{result.run_id}").json()
    detail = raw["run_details"]["task_details"][0]
    assert detail["input_parameters"] == {"a": 32, "b": 10}
    assert detail["output_parameters"] == {"Output": 42}
    log = call(stack, "GET", f"/runs/{result.run_id}/tasks/{task.task_id}/logs")
    assert log.status_code == 200 and "adding 32 and 10" in log.text
    assert log.headers["X-Log-Complete"] == "true"
    assert log.headers["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize("shared", [False, True], ids=["private", "shared"])
def test_kfp_client_runs_an_uploaded_version(stack, packages, unique_name, shared):
    c = client(stack)
    name = unique_name("adder")
    pipeline = c.upload_pipeline(
        packages["adder"], pipeline_name=name, namespace=None if shared else "default"
    )
    version = c.list_pipeline_versions(pipeline.pipeline_id).pipeline_versions[0]
    experiment = c.create_experiment(unique_name("exp"), namespace="default")
    run = c.run_pipeline(
        experiment_id=experiment.experiment_id,
        job_name=unique_name("run"),
        pipeline_id=pipeline.pipeline_id,
        version_id=version.pipeline_version_id,
        params={"a": 1, "b": 2},
    )
    done = c.wait_for_run_completion(run.run_id, timeout=120, sleep_duration=0.2)
    assert done.state == "SUCCEEDED"
    assert done.pipeline_version_reference.pipeline_version_id == version.pipeline_version_id
    raw = call(stack, "GET", f"/runs/{run.run_id}").json()
    assert raw["run_details"]["task_details"][0]["output_parameters"] == {"Output": 3}
    listed = c.list_runs(experiment_id=experiment.experiment_id)
    assert [r.run_id for r in listed.runs] == [run.run_id]


def test_run_namespace_and_authorization(stack_factory, packages):
    h = stack_factory(
        tokens={
            "alice": ({"team-a": "edit"}, "view"),
            "bob": ({"team-b": "view"}, "none"),
        }
    )
    alice, bob = h.tokens["alice"], h.tokens["bob"]
    data = Path(packages["adder"]).read_bytes()
    shared = call(
        h,
        "POST",
        "/pipelines/upload",
        files={"uploadfile": ("a.yaml", data)},
        params={"name": "shared-adder"},
    ).json()
    private = call(
        h,
        "POST",
        "/pipelines/upload",
        files={"uploadfile": ("a.yaml", data)},
        params={"name": "default-adder", "namespace": "default"},
    ).json()
    exp = call(
        h, "POST", "/experiments", alice, json={"display_name": "e", "namespace": "team-a"}
    ).json()
    body = {
        "display_name": "x",
        "experiment_id": exp["experiment_id"],
        "runtime_config": {"parameters": {"a": 1}},
    }
    ok = call(
        h,
        "POST",
        "/runs",
        alice,
        json={**body, "pipeline_version_reference": {"pipeline_id": shared["pipeline_id"]}},
    )
    assert ok.status_code == 200, ok.text
    run = ok.json()
    refused = call(
        h,
        "POST",
        "/runs",
        alice,
        json={**body, "pipeline_version_reference": {"pipeline_id": private["pipeline_id"]}},
    )
    assert refused.status_code == 403
    assert call(h, "GET", f"/runs/{run['run_id']}", bob).status_code == 403
    assert call(h, "GET", "/runs", bob, params={"namespace": "team-a"}).status_code == 403
    assert call(h, "POST", f"/runs/{run['run_id']}:terminate", bob).status_code == 403
    assert call(h, "DELETE", f"/runs/{run['run_id']}", bob).status_code == 403
    listed = call(h, "GET", "/runs", alice, params={"namespace": "team-a"}).json()
    assert [r["run_id"] for r in listed["runs"]] == [run["run_id"]]
    assert "runs" not in call(h, "GET", "/runs", params={"namespace": "default"}).json()
    wait_state(h, run["run_id"], {"SUCCEEDED"}, token=alice)


def test_bad_parameters_are_400_naming_the_parameter(stack, packages):
    c = client(stack)
    for params, word in (({"a": 1, "zz": 2}, "zz"), ({}, "'a'"), ({"a": "one"}, "'a'")):
        with pytest.raises(ApiException) as info:
            c.create_run_from_pipeline_package(packages["adder"], arguments=params)
        assert info.value.status == 400 and word in info.value.body
    bad = create(stack, packages["adder"], {"a": [1]})
    assert bad.status_code == 400 and bad.json()["message"].count("'a' must be an integer")


def test_needs_cluster_pipeline_fails_at_once(stack):
    c = client(stack)
    result = c.create_run_from_pipeline_package(str(VALID / "hello_world.yaml"))
    run = c.get_run(result.run_id)
    assert run.state == "FAILED"
    assert "needs a cluster stack" in run.error.message


# ----- lifecycle ------------------------------------------------------------------------------


def test_terminate_stops_the_process_tree(stack, packages):
    name = marker("pid")  # in the step's work dir; marks the step and its child (step_files.py)
    run = create(stack, packages["sleepy"], {"pid_file": name}).json()
    pid_file = work_file(stack.data_dir / "runs" / run["run_id"], name)
    wait_until(lambda: pid_file.exists() and pid_file.read_text().endswith("\n"), 60)
    assert len(host_pids_with(name.encode())) >= 2
    client(stack).terminate_run(run["run_id"])
    done = wait_state(stack, run["run_id"], {"CANCELED", "FAILED", "SUCCEEDED"}, timeout=30)
    assert done["state"] == "CANCELED"
    # the 2 s bound is measured in bench/runs_latency.py
    wait_until(lambda: not host_pids_with(name.encode()), 10)
    assert [h["state"] for h in done["state_history"]][-2:] == ["CANCELING", "CANCELED"]


def test_retry_runs_a_failed_run_again(stack, packages):
    run = create(stack, packages["flagged"], {"flag": "flag"}).json()  # in its work dir
    flag = work_file(stack.data_dir / "runs" / run["run_id"], "flag")
    failed = wait_state(stack, run["run_id"], {"FAILED", "SUCCEEDED"})
    assert failed["state"] == "FAILED" and "no flag at" in failed["error"]["message"]
    busy = call(stack, "POST", f"/runs/{run['run_id']}:retry")
    assert busy.status_code == 200
    again = wait_state(stack, run["run_id"], {"FAILED", "SUCCEEDED"})
    assert again["state"] == "FAILED"  # the flag is still missing
    flag.touch()
    assert call(stack, "POST", f"/runs/{run['run_id']}:retry").status_code == 200
    done = wait_state(stack, run["run_id"], {"SUCCEEDED", "FAILED"})
    assert done["state"] == "SUCCEEDED"
    states = [h["state"] for h in done["state_history"]]
    assert states.count("FAILED") == 2 and states[-1] == "SUCCEEDED"
    refused = call(stack, "POST", f"/runs/{run['run_id']}:retry")
    assert refused.status_code == 400 and "SUCCEEDED" in refused.json()["message"]
