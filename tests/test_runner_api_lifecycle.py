"""Runs through the embedded stack's HTTP API, over their life: archive, restore and delete;
lists filtered, sorted and paged; sixteen runs on a pool of two; logs tailed while a task
runs; artifacts read; recovery after kill -9 and a clean stop; a single-user stack."""

import base64
import io
import tarfile
import threading
import time

import runner_api_helpers
from runner_api_helpers import client, create, parse_time, wait_state, wait_until
from stack_http import VALID, call
from step_files import host_pids_with, marker, work_file

packages = runner_api_helpers.packages  # a fixture


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
