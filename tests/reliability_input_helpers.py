"""Targets, tallies and request makers of the bad-input tests (test_reliability_*.py): the stack
directly and through the server extension's proxy."""

from __future__ import annotations

import os
from typing import Any

import pytest
import reference
from hypothesis import HealthCheck, given, settings
from reliability_helpers import Tally, Target
from stack_http import VALID
from test_stack_fuzz import OPERATIONS, SCHEMA

reference.require_module()  # reads KFP's reference data below
HELLO = (VALID / "hello_world.yaml").read_bytes()
EXAMPLES = int(os.environ.get("DSP_FUZZ_EXAMPLES", "25"))
RUN_OPERATIONS = [
    ("/apis/v2beta1/runs", "GET"),
    ("/apis/v2beta1/runs", "POST"),
    ("/apis/v2beta1/runs/{run_id}", "GET"),
    ("/apis/v2beta1/runs/{run_id}", "DELETE"),
    ("/apis/v2beta1/runs/{run_id}:archive", "POST"),
    ("/apis/v2beta1/runs/{run_id}:unarchive", "POST"),
    ("/apis/v2beta1/runs/{run_id}:terminate", "POST"),
    ("/apis/v2beta1/runs/{run_id}:retry", "POST"),
]
NEW_RUN_OPERATIONS = [op for op in RUN_OPERATIONS if op not in OPERATIONS]


@pytest.fixture
def jp_server_config(dsp_server_config):
    return dsp_server_config


def targets(handle: Any, server_url: str, jupyter_token: str) -> list[Target]:
    return [Target.stack(handle), Target.proxy(server_url, jupyter_token)]


def runs_supported(target: Target) -> bool:
    return target.request("GET", "/runs", params={"page_size": "1"}).status_code != 501


def fuzz_operation(target: Target, path: str, method: str, tally: Tally) -> None:
    """Swagger-generated requests for one operation: never a 5xx, never a traceback."""

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=SCHEMA[path][method].as_strategy())
    def run(case: Any) -> None:
        response = case.call(base_url=target.base, headers=target.headers, timeout=60)
        tally.add(f"{target.name}_inputs")
        assert response.status_code < 500, (method, case.path, case.query, response.text)
        assert "Traceback" not in response.text, response.text
        body = response.json()
        if response.status_code >= 400:
            assert set(body) == {"code", "message", "details"}, body

    run()


def fuzz(target: Target, operations: list[tuple[str, str]], tally: Tally) -> None:
    for path, method in operations:
        fuzz_operation(target, path, method, tally)
