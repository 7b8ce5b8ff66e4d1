"""Helpers of the step-rights tests: a multi-user stack run as root with two attackers.

``alice`` has edit rights in ``team-a`` only, ``bob`` in ``other`` only. The stack's data dir
is under /tmp (not under a private directory), so only the stack's own rules stand between
a step and the files: the token, ``/etc/shadow``, the data dir, another namespace's runs.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from kfp import compiler
from stack_http import call

from jupyter_dsp.stack.context import TOKEN_FILE

ATTACKERS = {"alice": ({"team-a": "edit"}, "none"), "bob": ({"other": "edit"}, "none")}
SHADOW = Path("/etc/shadow")


def attack_stack(stack_factory: Any, **options: Any) -> Any:
    data_dir = Path(tempfile.mkdtemp(prefix="dsp-rights-", dir="/tmp"))
    return stack_factory(tokens=ATTACKERS, data_dir=data_dir, **options)


def secrets(h: Any) -> dict[str, str]:
    """What must never reach a step or an answer: the stack's token, /etc/shadow's lines."""
    found = {"token": (h.data_dir / TOKEN_FILE).read_text().strip()}
    if SHADOW.exists():
        lines = [line for line in SHADOW.read_text().splitlines() if line.strip()]
        found["shadow"] = lines[0] if lines else ""
    return {k: v for k, v in found.items() if v}


def assert_no_secret(h: Any, text: str) -> None:
    for label, value in secrets(h).items():
        assert value not in text, f"the {label} leaked"


def compile_spec(pipeline: Any, tmp_path: Path) -> dict:
    path = tmp_path / f"{pipeline.name}-{time.monotonic_ns()}.yaml"
    compiler.Compiler().compile(pipeline, str(path))
    return yaml.safe_load(path.read_text())


def run(h: Any, who: str, namespace: str, spec: dict, parameters: dict | None = None) -> dict:
    """Create a run as ``who`` in ``namespace`` and wait for its end; the final run JSON."""
    body = {
        "display_name": "rights",
        "pipeline_spec": spec,
        "runtime_config": {"parameters": parameters or {}},
    }
    token = h.tokens[who]
    created = call(h, "POST", "/runs", token, params={"namespace": namespace}, json=body)
    assert created.status_code == 200, created.text
    run_id = created.json()["run_id"]
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        got = call(h, "GET", f"/runs/{run_id}", token).json()
        if got["state"] in ("SUCCEEDED", "FAILED", "CANCELED"):
            return got
        time.sleep(0.3)
    raise AssertionError(f"run {run_id} did not finish")


def task(run_json: dict, name: str) -> dict:
    [found] = [t for t in run_json["run_details"]["task_details"] if t["display_name"] == name]
    return found


def task_log(h: Any, who: str, run_json: dict, name: str) -> str:
    t = task(run_json, name)
    return call(
        h, "GET", f"/runs/{run_json['run_id']}/tasks/{t['task_id']}/logs", h.tokens[who]
    ).text


def artifacts(h: Any, who: str, namespace: str, run_id: str) -> list[dict]:
    listed = call(
        h, "GET", "/artifacts", h.tokens[who], params={"namespace": namespace, "run_id": run_id}
    )
    assert listed.status_code == 200, listed.text
    return listed.json().get("artifacts") or []


def content(h: Any, who: str, artifact_id: str) -> Any:
    return call(h, "GET", f"/artifacts/{artifact_id}/content", h.tokens[who])


def world_readable_dir(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/var/tmp"))
    path.chmod(0o755)
    return path


def is_root() -> bool:
    return os.geteuid() == 0
