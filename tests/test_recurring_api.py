"""Recurring runs on the real embedded stack: the API as KFP defines it (list, get, filters,
refusals naming the field, namespaces, the swagger's shapes, generated requests)."""

import json
from typing import Any

import pytest
from recurring_helpers import create, upload_adder
from stack_http import assert_kfp_error, call

pytestmark = pytest.mark.timeout(180)


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
