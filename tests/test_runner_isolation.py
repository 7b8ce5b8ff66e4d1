"""Steps cannot see the stack's data dir, database, tokens, or another run's files (issue 10).

A real stack runs a pipeline whose step tries to read the SQLite database, the token file and
the files of an earlier run (in the same namespace and in another one), and reports what
happened to each as its output; it also writes in its own artifact and work directories,
which must work. When the stack does not run as root there is no separate user to run steps
as (the README says the embedded stack is then a single-person tool): the test is skipped.
(No ``from __future__ import annotations``: kfp reads the components' annotations.)
"""

import json
import os
import tempfile
from pathlib import Path

import pytest
from kfp import compiler, dsl
from stack_http import call

from jupyter_dsp.stack.context import DB_FILE, TOKEN_FILE

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="steps run as the stack's own user")


@dsl.component(base_image="python:3.11")
def snoop(targets: str, out: dsl.Output[dsl.Artifact]) -> str:
    import json
    import os

    report = {}
    for label, path in json.loads(targets).items():
        try:
            if os.path.isdir(path):
                report[label] = "listed: " + ",".join(sorted(os.listdir(path)))
            else:
                with open(path, "rb") as f:
                    report[label] = f"read {len(f.read())} bytes"
        except OSError as exc:
            report[label] = f"denied: {type(exc).__name__}"
    report["uid"] = str(os.getuid())
    report["secrets"] = ",".join(k for k in os.environ if "TOKEN" in k or k.startswith("JUPYTER"))
    with open(out.path, "w") as f:
        f.write("own artifact written")
    with open("scratch.txt", "w") as f:  # the step's own work dir
        f.write("ok")
    print("snoop report:", json.dumps(report, sort_keys=True))
    return json.dumps(report, sort_keys=True)


@dsl.pipeline(name="snoop")
def snoop_pipeline(targets: str) -> str:
    return snoop(targets=targets).outputs["Output"]


@dsl.component(base_image="python:3.11")
def keep_secret(out: dsl.Output[dsl.Artifact]) -> None:
    with open(out.path, "w") as f:
        f.write("the first run's private result")


@dsl.pipeline(name="keeper")
def keeper() -> None:
    keep_secret()


def _create(h, spec: dict, parameters: dict, token=None) -> dict:
    body = {
        "display_name": "iso",
        "pipeline_spec": spec,
        "runtime_config": {"parameters": parameters},
    }
    r = call(h, "POST", "/runs", token, json=body)
    assert r.status_code == 200, r.text
    return r.json()


def _wait(h, run_id: str, token=None) -> dict:
    import time

    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        run = call(h, "GET", f"/runs/{run_id}", token).json()
        if run["state"] in ("SUCCEEDED", "FAILED", "CANCELED"):
            return run
        time.sleep(0.3)
    raise AssertionError("run did not finish")


def _compile(pipeline, tmp_path: Path) -> dict:
    import yaml

    path = tmp_path / f"{pipeline.name}.yaml"
    compiler.Compiler().compile(pipeline, str(path))
    return yaml.safe_load(path.read_text())


def test_a_step_cannot_read_the_database_tokens_or_other_runs(stack_factory, tmp_path):
    data_dir = Path(tempfile.mkdtemp(prefix="dsp-iso-", dir="/tmp"))  # not under a private dir
    h = stack_factory(data_dir=data_dir)
    first = _wait(h, _create(h, _compile(keeper, tmp_path), {})["run_id"])
    assert first["state"] == "SUCCEEDED", first
    artifact = first["run_details"]["task_details"][0]["output_artifacts"]["out"][0]["uri"]
    assert Path(artifact).read_text() == "the first run's private result"
    first_dir = data_dir / "runs" / first["run_id"]
    targets = {
        "database": str(data_dir / DB_FILE),
        "token": str(data_dir / TOKEN_FILE),
        "data_dir": str(data_dir),
        "other_run_dir": str(first_dir),
        "other_run_artifact": artifact,
        "other_run_job": str(first_dir / "job.json"),
    }
    for path in (data_dir / DB_FILE, data_dir / TOKEN_FILE, Path(artifact)):
        assert path.exists(), path  # the targets are real
    run = _wait(
        h,
        _create(h, _compile(snoop_pipeline, tmp_path), {"targets": json.dumps(targets)})["run_id"],
    )
    assert run["state"] == "SUCCEEDED", run.get("error")
    [task] = [t for t in run["run_details"]["task_details"] if t["display_name"] == "snoop"]
    report = json.loads(task["output_parameters"]["Output"])
    for label in targets:
        assert report[label].startswith("denied"), (label, report[label])
    assert report["uid"] != "0" and report["secrets"] == ""
    own = Path(task["output_artifacts"]["out"][0]["uri"])
    assert own.read_text() == "own artifact written"  # its own run's files are writable
    log = call(h, "GET", f"/runs/{run['run_id']}/tasks/{task['task_id']}/logs").text
    assert '"database": "denied' in log and '"token": "denied' in log
