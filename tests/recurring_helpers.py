"""Helpers of the recurring-run tests: a pipeline uploaded, a schedule made, its runs."""

import json
from pathlib import Path
from typing import Any

from kfp import compiler
from sample_pipelines import adder
from stack_http import call, upload_bytes

from jupyter_dsp.stack.naming import scheduled_time


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
