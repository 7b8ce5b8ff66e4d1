"""Running the results pipelines on a stack and reading back what they wrote (tests, benches)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import requests
import yaml
from kfp import compiler

API = "/apis/v2beta1"


def compile_to(pipeline: Any, directory: Path) -> dict[str, Any]:
    """The compiled pipeline spec of ``pipeline`` as a dict."""
    path = directory / f"{pipeline.name}.yaml"
    if not path.exists():
        compiler.Compiler().compile(pipeline, str(path))
    return yaml.safe_load(path.read_text())


def start_run(
    url: str,
    token: str,
    spec: dict[str, Any],
    namespace: str | None = None,
    params: dict[str, Any] | None = None,
) -> str:
    response = requests.post(
        f"{url}{API}/runs",
        params={"namespace": namespace} if namespace else None,
        headers={"Authorization": f"Bearer {token}"},
        json={
            "display_name": spec["pipelineInfo"]["name"],
            "pipeline_spec": spec,
            "runtime_config": {"parameters": params or {}},
        },
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["run_id"])


def wait_run(url: str, token: str, run_id: str, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run = requests.get(
            f"{url}{API}/runs/{run_id}", headers={"Authorization": f"Bearer {token}"}, timeout=60
        ).json()
        if run.get("state") in ("SUCCEEDED", "FAILED", "CANCELED"):
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} still {run.get('state')}")
        time.sleep(0.2)


def tasks_named(doc: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [t for t in doc["tasks"] if t["name"] == name]
