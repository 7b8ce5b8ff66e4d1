"""A pipeline with typed, defaulted inputs (compiled with kfp) and a way to make its spec big,
for the version-list tests (tests/test_server_version_specs.py, test_client_version_specs.py)."""

# no `from __future__ import annotations`: kfp reads the component's real annotations
import copy
import json
import tempfile
from pathlib import Path
from typing import Any

import requests  # type: ignore[import-untyped]
import yaml  # type: ignore[import-untyped]
from kfp import compiler, dsl  # type: ignore[import-untyped]


@dsl.component(base_image="python:3.11")
def describe(name: str, count: int, ratio: float, loud: bool) -> str:
    return f"{name} {count} {ratio} {loud}"


@dsl.pipeline(name="typed-inputs")
def typed_inputs(name: str, count: int = 3, ratio: float = 0.5, loud: bool = True) -> str:
    return describe(name=name, count=count, ratio=ratio, loud=loud).output


def typed_spec() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "typed.yaml"
        compiler.Compiler().compile(typed_inputs, str(path))
        return yaml.safe_load(path.read_text())


def padded(spec: dict[str, Any], size: int) -> dict[str, Any]:
    """The spec with its executor's command grown to about ``size`` bytes of JSON (as a big
    component's embedded source makes it), its inputs unchanged."""
    out = copy.deepcopy(spec)
    container = next(iter(out["deploymentSpec"]["executors"].values()))["container"]
    line = "# " + "padding " * 12 + "\n"
    container["command"] = list(container["command"]) + [line] * (size // (len(line) + 4))
    return out


def _upload(stack_url: str, token: str, path: str, params: dict, spec: dict) -> dict:
    r = requests.post(
        f"{stack_url}/apis/v2beta1/pipelines/{path}",
        headers={"Authorization": f"Bearer {token}"},
        params=params,
        files={"uploadfile": ("pipeline.json", json.dumps(spec).encode(), "application/json")},
        timeout=120,
    )
    r.raise_for_status()
    return dict(r.json())


def add_version(stack_url: str, token: str, pipeline_id: str, name: str, spec: dict) -> str:
    """Upload a version straight to the stack (KFP's upload_version)."""
    params = {"pipelineid": pipeline_id, "name": name}
    return str(_upload(stack_url, token, "upload_version", params, spec)["pipeline_version_id"])


def create_pipeline(stack_url: str, token: str, name: str, spec: dict) -> tuple[str, str]:
    """A pipeline in namespace ``default`` with one version; (pipeline id, version id)."""
    params = {"name": name, "namespace": "default"}
    pipeline_id = str(_upload(stack_url, token, "upload", params, spec)["pipeline_id"])
    r = requests.get(
        f"{stack_url}/apis/v2beta1/pipelines/{pipeline_id}/versions",
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    r.raise_for_status()
    return pipeline_id, str(r.json()["pipeline_versions"][0]["pipeline_version_id"])


EXPECTED_INPUTS = {
    "name": ("STRING", None),
    "count": ("NUMBER_INTEGER", 3),
    "ratio": ("NUMBER_DOUBLE", 0.5),
    "loud": ("BOOLEAN", True),
}
