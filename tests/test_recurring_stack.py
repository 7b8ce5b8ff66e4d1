"""Recurring runs on the real embedded stack (child process on loopback): the API, firing,
restarts (with and without catch-up), max_concurrency and refusals."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from kfp import compiler
from sample_pipelines import adder, sleepy
from stack_http import assert_kfp_error, call, upload_bytes

from jupyter_dsp.stack.naming import scheduled_time

pytestmark = pytest.mark.timeout(180)


def upload_adder(stack: Any, tmp_path: Path, name: str) -> tuple[str, str]:
    package = tmp_path / "adder.yaml"
    compiler.Compiler().compile(adder, str(package))
    r = upload_bytes(stack, "adder.yaml", package.read_bytes(), name=name, namespace="default")
    assert r.status_code == 200, r.text
    pid = r.json()["pipeline_id"]
    versions = call(stack, "GET", f"/pipelines/{pid}/versions").json()["pipeline_versions"]
    return pid, versions[0]["pipeline_version_id"]


def create(stack: Any, pipeline_id: str, **fields: Any) -> dict[str, Any]:
    body = {
        "display_name": fields.pop("display_name", "sched"),
        "pipeline_version_reference": {"pipeline_id": pipeline_id},
        "runtime_config": {"parameters": {"a": 1}},
        "max_concurrency": "10",
        **fields,
    }
    r = call(stack, "POST", "/recurringruns", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def runs_of(stack: Any, recurring_run_id: str) -> list[dict[str, Any]]:
    predicate = {"key": "recurring_run_id", "operation": "EQUALS", "string_value": recurring_run_id}
    params = {"filter": json.dumps({"predicates": [predicate]}), "page_size": "200"}
    r = call(stack, "GET", "/runs", params=params)
    assert r.status_code == 200, r.text
    return r.json().get("runs", [])


def trigger_times(runs: list[dict[str, Any]]) -> list[int]:
    """The trigger time each run was made for (the suffix of its display name)."""
    out = []
    for run in runs:
        moment = scheduled_time(run["display_name"])  # "<schedule> · 2026-12-03 06:00:02"
        assert moment is not None, run["display_name"]
        out.append(int(moment.timestamp()))
    return sorted(out)


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


def test_list_get_and_kfp_list_semantics(stack_factory, tmp_path):
    stack = stack_factory()
    pid, vid = upload_adder(stack, tmp_path, "adder")
    far = "2099-01-01T00:00:00Z"
    ids = []
    for i in range(3):
        rr = create(
            stack,
            pid,
            display_name=f"nightly-{i}",
            trigger={"cron_schedule": {"cron": "0 0 6 * * *", "start_time": far}},
            pipeline_version_reference={"pipeline_id": pid, "pipeline_version_id": vid},
            mode="DISABLE" if i == 2 else "ENABLE",
        )
        ids.append(rr["recurring_run_id"])
    assert rr["status"] == "DISABLED"
    page = call(stack, "GET", "/recurringruns", params={"page_size": "2"}).json()
    assert page["total_size"] == 3 and len(page["recurringRuns"]) == 2
    rest = call(
        stack, "GET", "/recurringruns", params={"page_token": page["next_page_token"]}
    ).json()
    assert [r["recurring_run_id"] for r in page["recurringRuns"] + rest["recurringRuns"]] == ids
    desc = call(stack, "GET", "/recurringruns", params={"sort_by": "display_name desc"}).json()
    assert [r["display_name"] for r in desc["recurringRuns"]][0] == "nightly-2"
    flt = {"predicates": [{"key": "status", "operation": "EQUALS", "string_value": "DISABLED"}]}
    only = call(stack, "GET", "/recurringruns", params={"filter": json.dumps(flt)}).json()
    assert [r["recurring_run_id"] for r in only["recurringRuns"]] == [ids[2]]
    got = call(stack, "GET", f"/recurringruns/{ids[0]}").json()
    assert got["next_fire_time"] == "2099-01-01T06:00:00Z"
    assert got["pipeline_version_reference"] == {"pipeline_id": pid, "pipeline_version_id": vid}
    assert call(stack, "GET", "/recurringruns", params={"namespace": "other"}).status_code == 403


@pytest.mark.parametrize(
    "change, needle",
    [
        ({"trigger": {}}, "trigger"),
        ({"trigger": {"cron_schedule": {"cron": "61 * * * * *"}}}, "Invalid cron"),
        ({"trigger": {"cron_schedule": {"cron": "* *"}}}, "6"),
        ({"trigger": {"periodic_schedule": {"interval_second": "0"}}}, "interval_second"),
        (
            {
                "trigger": {
                    "cron_schedule": {"cron": "0 * * * * *"},
                    "periodic_schedule": {"interval_second": "5"},
                }
            },
            "not both",
        ),
        ({"max_concurrency": "11"}, "max_concurrency"),
        ({"mode": "SOMETIMES"}, "mode"),
        ({"runtime_config": {"parameters": {"a": "x"}}}, "parameters"),
        ({"runtime_config": {"parameters": {}}}, "parameters"),
        ({"display_name": ""}, "display_name"),
        (
            {"trigger": {"cron_schedule": {"cron": "0 * * * * *", "start_time": "yesterday"}}},
            "RFC 3339",
        ),
    ],
)
def test_bad_recurring_runs_are_400_naming_the_field(stack, tmp_path, unique_name, change, needle):
    pid, _ = upload_adder(stack, tmp_path, unique_name("adder"))
    body = {
        "display_name": "bad",
        "pipeline_version_reference": {"pipeline_id": pid},
        "runtime_config": {"parameters": {"a": 1}},
        "trigger": {"periodic_schedule": {"interval_second": "60"}},
        **change,
    }
    error = assert_kfp_error(call(stack, "POST", "/recurringruns", json=body), 400)
    assert needle in error["message"]


def test_other_namespaces_are_refused(stack_factory, tmp_path):
    stack = stack_factory(tokens={"alice": ({"team-a": "edit"}, "view")})
    pid, _ = upload_adder(stack, tmp_path, "adder")
    rr = create(stack, pid, trigger={"periodic_schedule": {"interval_second": "3600"}})
    alice = stack.tokens["alice"]
    assert_kfp_error(call(stack, "GET", f"/recurringruns/{rr['recurring_run_id']}", alice), 403)
    assert_kfp_error(
        call(stack, "POST", f"/recurringruns/{rr['recurring_run_id']}:disable", alice), 403
    )
    body = {
        "display_name": "x",
        "namespace": "team-a",
        "pipeline_version_reference": {"pipeline_id": pid},
        "runtime_config": {"parameters": {"a": 1}},
        "trigger": {"periodic_schedule": {"interval_second": "60"}},
    }
    # alice may not use a pipeline of namespace default in team-a
    assert_kfp_error(call(stack, "POST", "/recurringruns", alice, json=body), 403)


def test_recurring_run_answers_conform_to_the_swagger(stack_factory, tmp_path):
    """Every recurring-run answer validates against KFP 2.17's strict schema once the three
    documented extras are set aside (deviation 4 of test_stack_conformance)."""
    import jsonschema
    from test_stack_conformance import _formats, response_schema

    def conforms(method: str, template: str, response: Any) -> dict[str, Any]:
        assert response.status_code == 200, response.text
        body = response.json()
        items = body.get("recurringRuns", [body]) if "recurringRuns" in body else [body]
        for item in items:
            for extra in ("next_fire_time", "last_fire_time", "fired_count"):
                item.pop(extra, None)
        schema = response_schema(method, "/apis/v2beta1" + template, 200)
        jsonschema.Draft4Validator(schema, format_checker=_formats).validate(body)
        return body

    stack = stack_factory(in_process=True)
    pid, vid = upload_adder(stack, tmp_path, "adder")
    body = {
        "display_name": "conf",
        "pipeline_version_reference": {"pipeline_id": pid, "pipeline_version_id": vid},
        "runtime_config": {"parameters": {"a": 1}},
        "trigger": {
            "cron_schedule": {
                "cron": "0 0 6 * * *",
                "start_time": "2099-01-01T00:00:00Z",
                "end_time": "2100-01-01T00:00:00Z",
            }
        },
        "max_concurrency": "2",
        "no_catchup": True,
        "mode": "ENABLE",
    }
    created = conforms("POST", "/recurringruns", call(stack, "POST", "/recurringruns", json=body))
    rid = created["recurring_run_id"]
    conforms(
        "GET", "/recurringruns/{recurring_run_id}", call(stack, "GET", f"/recurringruns/{rid}")
    )
    conforms("GET", "/recurringruns", call(stack, "GET", "/recurringruns"))
    periodic = {**body, "trigger": {"periodic_schedule": {"interval_second": "3600"}}}
    conforms("POST", "/recurringruns", call(stack, "POST", "/recurringruns", json=periodic))
    for action in ("disable", "enable"):
        template = f"/recurringruns/{{recurring_run_id}}:{action}"
        conforms("POST", template, call(stack, "POST", f"/recurringruns/{rid}:{action}"))
    conforms(
        "DELETE",
        "/recurringruns/{recurring_run_id}",
        call(stack, "DELETE", f"/recurringruns/{rid}"),
    )


RECURRING_OPERATIONS = [
    ("/apis/v2beta1/recurringruns", "GET"),
    ("/apis/v2beta1/recurringruns", "POST"),
    ("/apis/v2beta1/recurringruns/{recurring_run_id}", "GET"),
    ("/apis/v2beta1/recurringruns/{recurring_run_id}", "DELETE"),
    ("/apis/v2beta1/recurringruns/{recurring_run_id}:enable", "POST"),
    ("/apis/v2beta1/recurringruns/{recurring_run_id}:disable", "POST"),
]


@pytest.mark.parametrize(
    "path, method", RECURRING_OPERATIONS, ids=[f"{m} {p}" for p, m in RECURRING_OPERATIONS]
)
def test_generated_recurring_run_requests_never_get_a_server_error(stack, path, method):
    from hypothesis import HealthCheck, given, settings
    from test_stack_fuzz import SCHEMA

    operation = SCHEMA[path][method]

    @settings(
        max_examples=40,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def run(case: Any) -> None:
        response = case.call(
            base_url=stack.url, headers={"Authorization": f"Bearer {stack.token}"}, timeout=30
        )
        assert response.status_code < 500, (case.path, case.body, response.text)
        body = response.json()
        if response.status_code >= 400:
            assert set(body) == {"code", "message", "details"}

    run()


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
