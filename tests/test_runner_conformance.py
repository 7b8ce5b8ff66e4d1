"""Run endpoints against the KFP 2.17.0 swagger, strictly (see test_stack_conformance.py).

Documented deviation: task details carry ``input_parameters``, ``output_parameters`` and
``output_artifacts`` (KFP keeps them in ML Metadata); they are checked here and removed
before the strict validation. Everything else must validate as is.
"""

import copy
import time

import jsonschema
import pytest
import yaml
from stack_http import VALID, call
from test_stack_conformance import _formats, response_schema

P = "/apis/v2beta1"
EXTRA_TASK_FIELDS = {"input_parameters", "output_parameters", "output_artifacts"}


def validate(method: str, template: str, status: int, body: dict) -> None:
    body = copy.deepcopy(body)
    for run in body.get("runs", [body]):
        for task in (run.get("run_details") or {}).get("task_details", []):
            for name in EXTRA_TASK_FIELDS & set(task):
                del task[name]
    schema = response_schema(method, P + template, status)
    jsonschema.Draft4Validator(schema, format_checker=_formats).validate(body)


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    from jupyter_dsp.stack import start_stack

    handle = start_stack(tmp_path_factory.mktemp("runs-conformance") / "data", in_process=True)
    yield handle
    handle.stop()


def test_run_endpoints_conform(fresh):
    spec = yaml.safe_load((VALID / "critical/add_numbers.yaml").read_text())
    body = {
        "display_name": "conf",
        "pipeline_spec": spec,
        "runtime_config": {"parameters": {"a": 1, "b": 2}},
    }
    created = call(fresh, "POST", "/runs", json=body)
    assert created.status_code == 200, created.text
    validate("POST", "/runs", 200, created.json())
    rid = created.json()["run_id"]
    deadline = time.monotonic() + 60
    while (run := call(fresh, "GET", f"/runs/{rid}").json())["state"] not in (
        "SUCCEEDED",
        "FAILED",
    ):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert run["state"] == "SUCCEEDED"
    task = run["run_details"]["task_details"][0]
    assert task["output_parameters"] == {"Output": 3}
    assert task["input_parameters"] == {"a": 1, "b": 2}
    validate("GET", "/runs/{run_id}", 200, run)
    listed = call(fresh, "GET", "/runs", params={"page_size": 1})
    validate("GET", "/runs", 200, listed.json())
    for action in ("archive", "unarchive", "retry", "terminate"):
        r = call(fresh, "POST", f"/runs/{rid}:{action}")
        template = "/runs/{run_id}:" + action
        validate("POST", template, r.status_code, r.json())
    cluster = call(
        fresh,
        "POST",
        "/runs",
        json={
            "display_name": "cluster",
            "pipeline_spec": yaml.safe_load((VALID / "hello_world.yaml").read_text()),
        },
    )
    validate("POST", "/runs", 200, cluster.json())
    assert cluster.json()["state"] == "FAILED"
    gone = call(fresh, "GET", "/runs/nope")
    assert gone.status_code == 404
    validate("GET", "/runs/{run_id}", 404, gone.json())
    deleted = call(fresh, "DELETE", f"/runs/{rid}")
    validate("DELETE", "/runs/{run_id}", 200, deleted.json())


@pytest.mark.parametrize(
    "body, word",
    [
        ({"pipeline_spec": {}}, "display_name"),
        ({"display_name": "x"}, "pipeline"),
        ({"display_name": "x", "pipeline_spec": {"foo": 1}}, "pipeline_spec"),
        ({"display_name": "x", "colour": "red"}, "colour"),
        ({"display_name": "x", "pipeline_version_reference": {"pipeline_id": "nope"}}, "nope"),
        ({"display_name": "x", "experiment_id": "nope", "pipeline_spec": {}}, "nope"),
        ({"display_name": 3}, "display_name"),
    ],
)
def test_bad_create_requests_are_kfp_errors(fresh, body, word):
    r = call(fresh, "POST", "/runs", json=body)
    assert r.status_code in (400, 404), r.text
    assert word in r.json()["message"]
    validate("POST", "/runs", r.status_code, r.json())
