"""Load: 32 concurrent clients through the server extension's proxy (a real Jupyter server in
front of an embedded stack) for a bounded time, mixing list, upload and run.

Nothing may fail, every acknowledged upload must be on the stack afterwards (exactly once),
and every run the proxy acknowledged must be listed and reach a final state.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time

import pytest
import reference
import requests
from reliability_helpers import (
    Tally,
    Target,
    all_pipelines,
    record,
    run_clients,
    wait_until,
)
from stack_http import VALID

pytest_plugins = (
    "pytest_jupyter.jupyter_server",
    "fixtures_cluster",
    "fixtures_server",
)

CLIENTS = 32
LOAD_SECONDS = float(os.environ.get("DSP_LOAD_SECONDS", "12"))
OPS_PER_CLIENT = 40
MAX_RUNS = 16  # runs execute on this machine: keep their number bounded
reference.require_module()  # reads KFP's reference data below
HELLO = (VALID / "hello_world.yaml").read_bytes()
ADD_NUMBERS = (VALID / "critical" / "add_numbers.yaml").read_bytes()
FINAL = {"SUCCEEDED", "FAILED", "SKIPPED", "CANCELED"}


@pytest.fixture
def jp_server_config(dsp_server_config):
    return dsp_server_config


def runs_supported(target: Target) -> bool:
    response = target.request("GET", "/runs", params={"page_size": "1"})
    return response.status_code != 501


async def test_32_clients_list_upload_and_run_through_the_proxy(
    proxied_stack, server_url, jupyter_token
):
    proxy = Target.proxy(server_url, jupyter_token)
    direct = Target.stack(proxied_stack)
    assert await asyncio.to_thread(runs_supported, direct), "the stack answers 501 for runs"
    uploaded = await asyncio.to_thread(proxy.upload, "load-add-numbers", ADD_NUMBERS)
    assert uploaded.status_code == 200, uploaded.text
    pid = uploaded.json()["pipeline_id"]
    versions = await asyncio.to_thread(proxy.request, "GET", f"/pipelines/{pid}/versions")
    runnable = (pid, versions.json()["pipeline_versions"][0]["pipeline_version_id"])

    tally = Tally()
    lock = threading.Lock()
    acked_uploads: dict[str, str] = {}
    acked_runs: dict[str, dict[str, float]] = {}
    run_slots = threading.Semaphore(MAX_RUNS)

    def expect(response: requests.Response, what: str) -> dict | None:
        tally.add("requests")
        if response.status_code != 200:
            tally.fail(f"{what}: {response.status_code} {response.text[:200]}")
            return None
        return response.json()

    def op(client: int, i: int, session: requests.Session) -> None:
        kind = ("list", "upload", "list", "list-shared", "upload", "run")[(client + i) % 6]
        if kind == "run" and not run_slots.acquire(blocking=False):
            kind = "list"
        if kind == "list":
            expect(proxy.request("GET", "/pipelines", session, params={"page_size": "20"}), kind)
        elif kind == "list-shared":
            shared = Target.proxy(server_url, jupyter_token, "shared")
            expect(shared.request("GET", "/pipelines", session), kind)
        elif kind == "upload":
            name = f"load-{client:02d}-{i:03d}"
            body = expect(proxy.upload(name, HELLO, session), f"upload {name}")
            if body is not None:
                with lock:
                    acked_uploads[name] = body["pipeline_id"]
        else:
            a, b = float(client), float(i)
            run = {
                "display_name": f"load-run-{client:02d}-{i:03d}",
                "pipeline_version_reference": {
                    "pipeline_id": runnable[0],
                    "pipeline_version_id": runnable[1],
                },
                "runtime_config": {"parameters": {"a": a, "b": b}},
            }
            body = expect(proxy.request("POST", "/runs", session, json=run), "run")
            if body is not None:
                with lock:
                    acked_runs[body["run_id"]] = {"a": a, "b": b}
        tally.add(kind)

    elapsed = await asyncio.to_thread(
        run_clients, CLIENTS, op, tally, seconds=LOAD_SECONDS, max_ops=OPS_PER_CLIENT
    )

    def settle() -> tuple[dict, list[dict]]:
        stored = all_pipelines(direct, "default")
        runs: list[dict] = []
        if acked_runs:

            def finished() -> bool:
                nonlocal runs
                listed = direct.request(
                    "GET", "/runs", params={"namespace": "default", "page_size": "200"}
                ).json()
                runs = [r for r in listed.get("runs", []) if r["run_id"] in acked_runs]
                return len(runs) == len(acked_runs) and all(r["state"] in FINAL for r in runs)

            wait_until(finished, 600, f"{len(acked_runs)} runs to finish")
        return stored, runs

    settle_start = time.monotonic()
    stored, runs = await asyncio.to_thread(settle)
    figures = record(
        "load_32_clients_through_proxy",
        clients=CLIENTS,
        seconds=round(elapsed, 1),
        requests_served=tally["requests"],
        requests_per_second=round(tally["requests"] / elapsed, 1),
        lists=tally["list"] + tally["list-shared"],
        uploads_acknowledged=len(acked_uploads),
        runs_acknowledged=len(acked_runs),
        runs_succeeded=sum(1 for r in runs if r["state"] == "SUCCEEDED"),
        runs_settle_seconds=round(time.monotonic() - settle_start, 1),
        errors=tally["failed"],
        data_lost=len(set(acked_uploads.values()) - set(stored))
        + len(set(acked_runs) - {r["run_id"] for r in runs}),
    )
    assert tally["failed"] == 0, tally.failures
    assert tally["upload"] >= CLIENTS, "the mix must really upload"
    # every acknowledged upload is stored once, under its name, with its one version
    by_name = {p["display_name"]: pid for pid, p in stored.items()}
    assert {n: by_name.get(n) for n in acked_uploads} == acked_uploads
    loaded = {n for n in by_name if n.startswith("load-") and n != "load-add-numbers"}
    assert loaded == set(acked_uploads), "no phantom or duplicate pipelines"
    assert len(acked_runs) == MAX_RUNS, "the mix must really run"
    assert figures["runs_succeeded"] == len(acked_runs), [
        (r["display_name"], r["state"]) for r in runs if r["state"] != "SUCCEEDED"
    ]
    for r in runs:
        params = r["runtime_config"]["parameters"]
        assert params == acked_runs[r["run_id"]], r
