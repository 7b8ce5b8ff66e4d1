"""Recurring runs on the real embedded stack (child process on loopback): firing, restarts
(with and without catch-up), max_concurrency, a firing that cannot run, cron semantics. The
API's own tests are in test_recurring_api.py."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest
from kfp import compiler
from recurring_helpers import create, runs_of, trigger_times, upload_adder
from sample_pipelines import sleepy
from stack_http import assert_kfp_error, call, upload_bytes

pytestmark = pytest.mark.timeout(180)


def test_cron_every_two_seconds_fires_and_stops_when_disabled(stack_factory, tmp_path):
    stack = stack_factory()
    pid, _ = upload_adder(stack, tmp_path, "adder")
    rr = create(stack, pid, trigger={"cron_schedule": {"cron": "*/2 * * * * *"}})
    assert rr["status"] == "ENABLED" and rr["mode"] == "ENABLE"
    assert rr["trigger"] == {"cron_schedule": {"cron": "*/2 * * * * *"}}
    assert rr["namespace"] == "default" and rr["max_concurrency"] == "10"
    rid = rr["recurring_run_id"]
    time.sleep(7)
    made = runs_of(stack, rid)
    assert len(made) >= 2
    assert all(run["recurring_run_id"] == rid for run in made)
    times = trigger_times(made)
    assert all(t % 2 == 0 for t in times) and len(set(times)) == len(times)
    assert {run["experiment_id"] for run in made} == {rr["experiment_id"]}
    got = call(stack, "GET", f"/recurringruns/{rid}").json()
    assert got["fired_count"] == len(runs_of(stack, rid)) or got["fired_count"] >= len(made)
    assert "next_fire_time" in got

    assert call(stack, "POST", f"/recurringruns/{rid}:disable").status_code == 200
    settled = len(runs_of(stack, rid))
    disabled = call(stack, "GET", f"/recurringruns/{rid}").json()
    assert disabled["status"] == "DISABLED" and "next_fire_time" not in disabled
    time.sleep(5)
    assert len(runs_of(stack, rid)) == settled

    assert call(stack, "POST", f"/recurringruns/{rid}:enable").status_code == 200
    time.sleep(4.5)
    assert len(runs_of(stack, rid)) > settled  # fires again, from now (no catch-up of the pause)
    assert call(stack, "DELETE", f"/recurringruns/{rid}").status_code == 200
    assert_kfp_error(call(stack, "GET", f"/recurringruns/{rid}"), 404)
    assert runs_of(stack, rid)  # the runs it made stay


@pytest.mark.parametrize("no_catchup", [False, True])
def test_restart_neither_duplicates_nor_loses_triggers(stack_factory, tmp_path, no_catchup):
    data_dir = tmp_path / "data"
    stack = stack_factory(data_dir=data_dir)
    pid, _ = upload_adder(stack, tmp_path, "adder")
    rr = create(
        stack,
        pid,
        trigger={"periodic_schedule": {"interval_second": "1"}},
        no_catchup=no_catchup,
    )
    rid = rr["recurring_run_id"]
    time.sleep(3.2)
    stack.kill()  # kill -9: whatever was in flight
    down_from = int(time.time())
    time.sleep(4)
    stack = stack_factory(data_dir=data_dir)
    time.sleep(3)
    call(stack, "POST", f"/recurringruns/{rid}:disable")
    times = trigger_times(runs_of(stack, rid))
    assert len(times) == len(set(times)), f"a trigger fired twice: {times}"
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    if no_catchup:
        # the downtime's triggers collapse into one firing
        assert max(gaps) >= 3, times
        assert len([t for t in times if down_from < t < down_from + 4]) <= 1, times
    else:
        assert set(gaps) == {1}, f"every second fired once, missed ones caught up: {times}"
    assert times[-1] >= down_from + 4


def test_max_concurrency_holds_back_firings(stack_factory, tmp_path):
    stack = stack_factory()
    package = tmp_path / "sleepy.yaml"
    compiler.Compiler().compile(sleepy, str(package))
    r = upload_bytes(stack, "sleepy.yaml", package.read_bytes(), name="sleepy", namespace="default")
    pid = r.json()["pipeline_id"]
    rr = create(
        stack,
        pid,
        trigger={"periodic_schedule": {"interval_second": "1"}},
        runtime_config={"parameters": {"pid_file": "pid"}},  # in each run's own work dir
        max_concurrency="1",
        no_catchup=True,
    )
    rid = rr["recurring_run_id"]
    time.sleep(4)
    made = runs_of(stack, rid)
    assert len(made) == 1, [run["state"] for run in made]
    call(stack, "POST", f"/recurringruns/{rid}:disable")
    for run in made:
        call(stack, "POST", f"/runs/{run['run_id']}:terminate")


def test_a_firing_that_cannot_run_is_shown_and_the_schedule_goes_on(stack_factory, tmp_path):
    stack = stack_factory()
    pid, vid = upload_adder(stack, tmp_path, "adder")
    exp = call(stack, "POST", "/experiments", json={"display_name": "old"}).json()
    call(stack, "POST", f"/experiments/{exp['experiment_id']}:archive")
    body = {
        "display_name": "x",
        "experiment_id": exp["experiment_id"],
        "pipeline_version_reference": {"pipeline_id": pid, "pipeline_version_id": vid},
        "runtime_config": {"parameters": {"a": 1}},
        "trigger": {"periodic_schedule": {"interval_second": "1"}},
    }
    error = assert_kfp_error(call(stack, "POST", "/recurringruns", json=body), 400)
    assert "archived" in error["message"]

    rr = create(
        stack,
        pid,
        trigger={"periodic_schedule": {"interval_second": "1"}},
        pipeline_version_reference={"pipeline_id": pid, "pipeline_version_id": vid},
        max_concurrency="10",
    )
    rid = rr["recurring_run_id"]
    time.sleep(2.5)
    assert call(stack, "DELETE", f"/pipelines/{pid}/versions/{vid}").status_code == 200
    made = len(runs_of(stack, rid))
    time.sleep(3)
    got = call(stack, "GET", f"/recurringruns/{rid}").json()
    call(stack, "POST", f"/recurringruns/{rid}:disable")
    assert len(runs_of(stack, rid)) == made  # nothing could be made...
    assert vid in got["error"]["message"]  # ...and it says why
    assert got["fired_count"] == made
    last = datetime.strptime(got["last_fire_time"], "%Y-%m-%dT%H:%M:%SZ")
    assert last.replace(tzinfo=timezone.utc).timestamp() >= time.time() - 3  # it moved on


def test_scheduler_fires_due_ids_in_parallel_but_one_id_never_twice_at_once():
    """The scheduler thread alone (plain class): 8 ids due now, each firing takes 0.3 s."""
    import threading

    from jupyter_dsp.stack.recurring_scheduler import Scheduler

    lock = threading.Lock()
    running: dict[str, int] = {}
    overlap: list[str] = []
    fired: list[tuple[str, float]] = []
    peak = [0]

    def fire(rid: str) -> int | None:
        with lock:
            running[rid] = running.get(rid, 0) + 1
            if running[rid] > 1:
                overlap.append(rid)
            peak[0] = max(peak[0], sum(running.values()))
        time.sleep(0.3)
        with lock:
            running[rid] -= 1
            fired.append((rid, time.time()))
        return None

    ids = [f"s{i}" for i in range(8)]
    scheduler = Scheduler(fire, lambda: [(rid, int(time.time()) - 1) for rid in ids])
    time.sleep(0.1)
    for _ in range(5):  # due again while firing: looked at again after, never in parallel
        scheduler.schedule("s0", int(time.time()) - 1)
        time.sleep(0.05)
    time.sleep(2)
    scheduler.stop()
    assert not overlap
    assert peak[0] == 4  # four at a time
    assert {rid for rid, _ in fired} == set(ids)
    # 5 re-schedules while firing coalesce: one more look after each firing they overlapped
    assert 2 <= [rid for rid, _ in fired].count("s0") <= 3


def test_five_field_cron_is_a_unix_cron(stack_factory, tmp_path):
    """Deviation from KFP (documented in recurring_trigger): '0 6 * * *' is 06:00 daily."""
    stack = stack_factory(in_process=True)
    pid, _ = upload_adder(stack, tmp_path, "adder")
    rr = create(stack, pid, trigger={"cron_schedule": {"cron": "0 6 * * *"}})
    assert rr["trigger"]["cron_schedule"]["cron"] == "0 0 6 * * *"
    assert rr["next_fire_time"].endswith("T06:00:00Z")
    call(stack, "DELETE", f"/recurringruns/{rr['recurring_run_id']}")
