"""Components, compiled packages and request helpers of the tests of runs through the embedded
stack's HTTP API (test_runner_api*.py). (No from __future__ import annotations: kfp reads
the components' annotations.)"""

import datetime
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kfp
import pytest
from kfp import compiler, dsl
from kfp.dsl import Dataset, Output
from sample_pipelines import adder, sleepy
from stack_http import call

# ----- pipelines ------------------------------------------------------------------------------


@dsl.component(base_image="python:3.11")
def write_text(text: str, out: Output[Dataset]) -> None:
    with open(out.path, "w") as f:
        f.write(text)


@dsl.pipeline(name="writer")
def writer(text: str = "hello artifact") -> None:
    write_text(text=text)


@dsl.component(base_image="python:3.11")
def chatter(lines: int, pause: float) -> None:
    import time

    for i in range(lines):
        print(f"line {i}", flush=True)
        time.sleep(pause)


@dsl.pipeline(name="chatty")
def chatty(lines: int = 6, pause: float = 0.4) -> None:
    chatter(lines=lines, pause=pause)


@dsl.component(base_image="python:3.11")
def fail_unless(flag: str) -> str:
    import os

    if not os.path.exists(flag):
        raise RuntimeError(f"no flag at {flag}")
    return "found"


@dsl.pipeline(name="flagged")
def flagged(flag: str) -> str:
    return fail_unless(flag=flag).output


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("packages")
    paths = {}
    for pipeline in (adder, writer, chatty, sleepy, flagged):
        path = out / f"{pipeline.name}.yaml"
        compiler.Compiler().compile(pipeline, str(path))
        paths[pipeline.name] = str(path)
    return paths


# ----- helpers --------------------------------------------------------------------------------


def client(stack: Any, token: str | None = None) -> kfp.Client:
    return kfp.Client(host=stack.url, existing_token=token or stack.token)


def wait_state(stack: Any, run_id: str, states: set[str], timeout: float = 120, token: Any = None):
    deadline = time.monotonic() + timeout
    while True:
        run = call(stack, "GET", f"/runs/{run_id}", token).json()
        if run.get("state") in states:
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} still {run.get('state')}")
        time.sleep(0.1)


def create(
    stack: Any, package: str, params: dict[str, Any] | None = None, token: Any = None, **body: Any
) -> Any:
    spec = Path(package).read_text()
    import yaml

    return call(
        stack,
        "POST",
        "/runs",
        token,
        json={
            "display_name": body.pop("display_name", "r"),
            "pipeline_spec": yaml.safe_load(spec),
            "runtime_config": {"parameters": params or {}},
            **body,
        },
    )


def parse_time(value: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


def wait_until(predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


# ----- kfp.Client -----------------------------------------------------------------------------
