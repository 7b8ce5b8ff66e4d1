"""Runs through the embedded stack's HTTP API, driven by the official kfp.Client and raw REST.

Every test talks to a real stack (child process on 127.0.0.1). (No ``from __future__ import
annotations``: kfp reads the components' annotations.)
"""

import base64
import datetime
import io
import tarfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kfp
import pytest
from kfp import compiler, dsl
from kfp.dsl import Dataset, Output
from kfp_server_api.exceptions import ApiException
from sample_pipelines import adder, sleepy
from stack_http import VALID, call
from step_files import host_pids_with, marker, work_file

# ----- pipelines ------------------------------------------------------------------------------


@dsl.component(base_image="python:3.11")
def write_text(text: str, out: Output[Dataset]) -> None:
    with open(out.path, "w") as f:
        f.write(text)


@dsl.pipeline(name="writer")
def writer(text: str = "hello artifact") -> None:
    write_text(text=text)


@dsl.component(base_image="python:3.11")
def chatter(lines: int, pause: float) -> None:
    import time

    for i in range(lines):
        print(f"line {i}", flush=True)
        time.sleep(pause)


@dsl.pipeline(name="chatty")
def chatty(lines: int = 6, pause: float = 0.4) -> None:
    chatter(lines=lines, pause=pause)


@dsl.component(base_image="python:3.11")
def fail_unless(flag: str) -> str:
    import os

    if not os.path.exists(flag):
        raise RuntimeError(f"no flag at {flag}")
    return "found"


@dsl.pipeline(name="flagged")
def flagged(flag: str) -> str:
    return fail_unless(flag=flag).output


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("packages")
    paths = {}
    for pipeline in (adder, writer, chatty, sleepy, flagged):
        path = out / f"{pipeline.name}.yaml"
        compiler.Compiler().compile(pipeline, str(path))
        paths[pipeline.name] = str(path)
    return paths


# ----- helpers --------------------------------------------------------------------------------


def client(stack: Any, token: str | None = None) -> kfp.Client:
    return kfp.Client(host=stack.url, existing_token=token or stack.token)


def wait_state(stack: Any, run_id: str, states: set[str], timeout: float = 120, token: Any = None):
    deadline = time.monotonic() + timeout
    while True:
        run = call(stack, "GET", f"/runs/{run_id}", token).json()
        if run.get("state") in states:
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} still {run.get('state')}")
        time.sleep(0.1)


def create(
    stack: Any, package: str, params: dict[str, Any] | None = None, token: Any = None, **body: Any
) -> Any:
    spec = Path(package).read_text()
    import yaml

    return call(
        stack,
        "POST",
        "/runs",
        token,
        json={
            "display_name": body.pop("display_name", "r"),
            "pipeline_spec": yaml.safe_load(spec),
            "runtime_config": {"parameters": params or {}},
            **body,
        },
    )


def parse_time(value: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


def wait_until(predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


# ----- kfp.Client -----------------------------------------------------------------------------


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


def test_archive_unarchive_delete(stack, packages, tmp_path):
    c = client(stack)
    run = create(stack, packages["adder"], {"a": 1}, display_name="to-archive").json()
    rid = run["run_id"]
    wait_state(stack, rid, {"SUCCEEDED"})
    c.archive_run(rid)
    assert c.get_run(rid).storage_state == "ARCHIVED"
    c.unarchive_run(rid)
    assert c.get_run(rid).storage_state == "AVAILABLE"
    c.delete_run(rid)
    gone = call(stack, "GET", f"/runs/{rid}")
    assert gone.status_code == 404 and gone.json()["code"] == 5
    assert not (stack.data_dir / "runs" / rid).exists()
    assert call(stack, "GET", f"/runs/{rid}/tasks/add/logs").status_code == 404


def test_list_filters_sorts_and_pages(stack_factory, packages):
    h = stack_factory()
    ids = [
        create(h, packages["adder"], {"a": i}, display_name=f"list-{i}").json()["run_id"]
        for i in range(3)
    ]
    hello = create(h, str(VALID / "hello_world.yaml"), display_name="cluster-only").json()
    for rid in ids:
        wait_state(h, rid, {"SUCCEEDED"})
    c = client(h)
    page = c.list_runs(page_size=2, sort_by="created_at desc")
    assert page.total_size == 4 and len(page.runs) == 2 and page.next_page_token
    rest = c.list_runs(page_token=page.next_page_token, page_size=2)
    seen = [r.run_id for r in page.runs + rest.runs]
    assert sorted(seen) == sorted([*ids, hello["run_id"]])
    failed = c.list_runs(
        filter='{"predicates":[{"key":"state","operation":"EQUALS","string_value":"FAILED"}]}'
    )
    assert [r.run_id for r in failed.runs] == [hello["run_id"]]
    named = c.list_runs(
        filter='{"predicates":[{"key":"display_name","operation":'
        '"IS_SUBSTRING","string_value":"list-"}]}',
        sort_by="name",
    )
    assert [r.display_name for r in named.runs] == ["list-0", "list-1", "list-2"]
    recent = call(
        h,
        "GET",
        "/runs",
        params={
            "filter": '{"predicates":[{"key":"created_at",'
            '"operation":"GREATER_THAN","timestamp_value":"2020-01-01T00:00:00Z"}]}'
        },
    )
    assert recent.json()["total_size"] == 4
    assert call(h, "GET", "/runs", params={"sort_by": "colour"}).status_code == 400


def test_sixteen_runs_with_a_pool_of_two(stack_factory, packages):
    h = stack_factory(workers=2)
    ids: list[str] = []
    lock = threading.Lock()

    def submit(i: int) -> None:
        r = create(h, packages["adder"], {"a": i}, display_name=f"burst-{i}")
        assert r.status_code == 200
        with lock:
            ids.append(r.json()["run_id"])

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ids) == 16
    runs = [wait_state(h, rid, {"SUCCEEDED", "FAILED"}, timeout=300) for rid in ids]
    assert [r["state"] for r in runs] == ["SUCCEEDED"] * 16
    outputs = sorted(
        r["run_details"]["task_details"][0]["output_parameters"]["Output"] for r in runs
    )
    assert outputs == sorted(i + 10 for i in range(16))
    # never more than two RUNNING at once, from the runs' own histories
    events = []
    for r in runs:
        times = {e["state"]: parse_time(e["update_time"]) for e in r["state_history"]}
        events += [(times["RUNNING"], 1), (times["SUCCEEDED"], -1)]
    level = peak = 0
    for _, step in sorted(events, key=lambda e: (e[0], e[1])):
        level += step
        peak = max(peak, level)
    assert peak == 2
    assert client(h).list_runs(page_size=100).total_size == 16


def test_logs_can_be_tailed_while_the_task_runs(stack, packages):
    run = create(stack, packages["chatty"], {"lines": 6, "pause": 0.4}).json()
    rid = run["run_id"]
    running = wait_state(stack, rid, {"RUNNING"})
    del running
    wait_until(lambda: bool(call(stack, "GET", f"/runs/{rid}").json().get("run_details")), 30)
    task_id = call(stack, "GET", f"/runs/{rid}").json()["run_details"]["task_details"][0]["task_id"]
    offset, text, incomplete_seen = 0, b"", False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        r = call(stack, "GET", f"/runs/{rid}/tasks/{task_id}/logs", params={"offset": offset})
        assert r.status_code == 200
        text += r.content
        assert int(r.headers["X-Log-Next-Offset"]) == offset + len(r.content)
        offset = int(r.headers["X-Log-Next-Offset"])
        if r.headers["X-Log-Complete"] == "true":
            break
        incomplete_seen = True
        time.sleep(0.2)
    assert incomplete_seen
    assert all(f"line {i}".encode() in text for i in range(6))
    whole = call(stack, "GET", f"/runs/{rid}/tasks/{task_id}/logs").content
    assert whole == text
    assert call(stack, "GET", f"/runs/{rid}/tasks/nope/logs").status_code == 404
    assert (
        call(stack, "GET", f"/runs/{rid}/tasks/{task_id}/logs", params={"offset": "x"}).status_code
        == 400
    )


def test_artifact_read(stack, packages):
    run = create(stack, packages["writer"], {"text": "bytes of the dataset"}).json()
    done = wait_state(stack, run["run_id"], {"SUCCEEDED", "FAILED"})
    assert done["state"] == "SUCCEEDED"
    task = done["run_details"]["task_details"][0]
    [artifact] = task["output_artifacts"]["out"]
    assert artifact["schema_title"] == "system.Dataset"
    path = f"/runs/{run['run_id']}/nodes/{task['task_id']}/artifacts/out:read"
    data = base64.b64decode(call(stack, "GET", path).json()["data"])
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        [member] = tar.getmembers()
        assert tar.extractfile(member).read() == b"bytes of the dataset"
    missing = call(stack, "GET", f"/runs/{run['run_id']}/nodes/{task['task_id']}/artifacts/x:read")
    assert missing.status_code == 404


def test_restart_recovery_after_kill_9(stack_factory, packages, tmp_path):
    data_dir = tmp_path / "recover"
    h = stack_factory(data_dir=data_dir, workers=1)
    name = marker("pid")
    running = create(h, packages["sleepy"], {"pid_file": name}).json()
    pending = create(h, packages["adder"], {"a": 2}).json()
    pid_file = work_file(data_dir / "runs" / running["run_id"], name)
    wait_until(lambda: pid_file.exists() and pid_file.read_text().endswith("\n"), 60)
    assert call(h, "GET", f"/runs/{pending['run_id']}").json()["state"] == "PENDING"
    h.kill()
    # the orphaned worker killed its own group
    wait_until(lambda: not host_pids_with(name.encode()), 5)
    h2 = stack_factory(data_dir=data_dir, workers=1)
    failed = call(h2, "GET", f"/runs/{running['run_id']}").json()
    assert failed["state"] == "FAILED" and "stack stopped" in failed["error"]["message"]
    assert all(t["state"] == "FAILED" for t in failed["run_details"]["task_details"])
    done = wait_state(h2, pending["run_id"], {"SUCCEEDED", "FAILED"})
    assert done["state"] == "SUCCEEDED"


def test_a_stopped_stack_leaves_no_run_running(stack_factory, packages, tmp_path):
    data_dir = tmp_path / "stopped"
    h = stack_factory(data_dir=data_dir, workers=1)
    name = marker("pid")
    running = create(h, packages["sleepy"], {"pid_file": name}).json()
    pid_file = work_file(data_dir / "runs" / running["run_id"], name)
    wait_until(lambda: pid_file.exists() and pid_file.read_text().endswith("\n"), 60)
    h.stop()
    # stopping the stack stopped the run's processes
    wait_until(lambda: not host_pids_with(name.encode()), 10)
    h2 = stack_factory(data_dir=data_dir, workers=1)
    failed = call(h2, "GET", f"/runs/{running['run_id']}").json()
    assert failed["state"] == "FAILED" and "stack stopped" in failed["error"]["message"]


def test_single_user_stack_runs(stack_factory, packages):
    h = stack_factory(single_user=True)
    c = client(h)
    result = c.create_run_from_pipeline_package(packages["adder"], arguments={"a": 5})
    run = c.wait_for_run_completion(result.run_id, timeout=120, sleep_duration=0.2)
    assert run.state == "SUCCEEDED"
    assert [r.run_id for r in c.list_runs().runs] == [result.run_id]
