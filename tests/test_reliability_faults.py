"""Faults: the stack killed with -9 during uploads and during runs, then restarted; the token
file rotated under load; the upstream stopping and returning while the proxy serves.

Every test injects its faults a bounded number of times and records what it saw.
"""

from __future__ import annotations

import asyncio
import sqlite3
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

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

from jupyter_dsp.client import compile_source

pytest_plugins = (
    "pytest_jupyter.jupyter_server",
    "fixtures_cluster",
    "fixtures_server",
)

reference.require_module()  # reads KFP's reference data below
HELLO = (VALID / "hello_world.yaml").read_bytes()
FINAL = {"SUCCEEDED", "FAILED", "SKIPPED", "CANCELED"}
KILL_CYCLES = 3
UPLOADERS = 8
ROTATIONS = 40


@pytest.fixture
def jp_server_config(dsp_server_config):
    return dsp_server_config


def integrity(data_dir: Path) -> str:
    conn = sqlite3.connect(data_dir / "stack.db")
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def healthy(handle: Any) -> bool:
    try:
        return requests.get(handle.url + "/apis/v2beta1/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


# ---- kill -9 during uploads -----------------------------------------------------------------


def upload_until_killed(
    handle: Any, cycle: int, acked: dict[str, str], lock: threading.Lock, tally: Tally
) -> None:
    """``UPLOADERS`` clients upload to ``handle`` until it has acknowledged 25 more, then
    ``kill -9`` it while they keep going."""
    target = Target.stack(handle)
    killed = threading.Event()
    stop = threading.Event()

    def op(client: int, i: int, session: requests.Session) -> None:
        name = f"k9-{cycle}-{client}-{i}"
        try:
            response = target.upload(name, HELLO, session, timeout=30)
        except requests.ConnectionError:
            if not killed.is_set():
                raise
            tally.add("cut_by_kill")  # unacknowledged: may or may not be stored
            stop.set()
            return
        tally.add("requests")
        if response.status_code == 200:
            with lock:
                acked[name] = response.json()["pipeline_id"]
        elif not killed.is_set():
            tally.fail(f"{name}: {response.status_code} {response.text[:200]}")

    start = len(acked)
    load = threading.Thread(
        target=run_clients,
        args=(UPLOADERS, op, tally),
        kwargs={"seconds": 60, "max_ops": 10_000, "stop": stop},
    )
    load.start()
    try:
        wait_until(lambda: len(acked) >= start + 25, 60, "uploads before the kill")
        killed.set()
        handle.kill()
        tally.add("faults_injected")
    finally:
        time.sleep(0.2)  # let in-flight requests see the cut
        stop.set()
        load.join(60)


def test_kill_9_during_uploads_loses_nothing_acknowledged(stack_factory, tmp_path):
    data = tmp_path / "data"
    acked: dict[str, str] = {}
    lock = threading.Lock()
    tally = Tally()
    for cycle in range(KILL_CYCLES):
        upload_until_killed(stack_factory(data_dir=data), cycle, acked, lock, tally)
        assert integrity(data) == "ok"

    again = stack_factory(data_dir=data)
    target = Target.stack(again)
    stored = all_pipelines(target)  # uploaded without a namespace: shared
    ours = {pid: p for pid, p in stored.items() if p["display_name"].startswith("k9-")}
    lost = {n: pid for n, pid in acked.items() if stored.get(pid, {}).get("display_name") != n}
    half_done = []
    for pid, p in ours.items():
        versions = target.request("GET", f"/pipelines/{pid}/versions").json()
        if versions.get("total_size") != 1:
            half_done.append(p["display_name"])
    record(
        "faults_kill_9_during_uploads",
        faults_injected=tally["faults_injected"],
        requests_served=tally["requests"],
        uploads_acknowledged=len(acked),
        requests_cut_by_kill=tally["cut_by_kill"],
        stored_after_restart=len(ours),
        data_lost=len(lost),
        pipelines_without_exactly_one_version=len(half_done),
    )
    assert tally["failed"] == 0, tally.failures
    assert not lost, f"acknowledged uploads missing after kill -9: {sorted(lost)[:10]}"
    assert not half_done, f"pipelines stored without their version: {half_done[:10]}"
    assert len(ours) - len(acked) <= UPLOADERS * KILL_CYCLES, "only cut requests may add more"


# ---- kill -9 during runs --------------------------------------------------------------------


@pytest.fixture(scope="module")
def nap_package(tmp_path_factory) -> bytes:
    """A pipeline whose one task sleeps ``seconds``: runs that are RUNNING when the kill comes."""
    # defined from source: this module's `from __future__ import annotations` would turn the
    # component's annotations into strings, which KFP does not read
    source = textwrap.dedent(
        """
        from kfp import dsl

        @dsl.component(base_image="python:3.11")
        def nap(seconds: float) -> str:
            import time
            time.sleep(seconds)
            return "rested"

        @dsl.pipeline(name="nap")
        def nap_pipeline(seconds: float = 5.0):
            nap(seconds=seconds)
        """
    )
    path = tmp_path_factory.mktemp("nap") / "nap_pipeline.py"
    path.write_text(source)
    return compile_source(str(path)).to_yaml().encode()


def create_run(target: Target, ref: tuple[str, str], name: str, seconds: float) -> dict:
    body = {
        "display_name": name,
        "pipeline_version_reference": {"pipeline_id": ref[0], "pipeline_version_id": ref[1]},
        "runtime_config": {"parameters": {"seconds": seconds}},
    }
    response = target.request("POST", "/runs", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def run_states(target: Target, run_ids: list[str]) -> dict[str, str]:
    return {rid: target.request("GET", f"/runs/{rid}").json()["state"] for rid in run_ids}


def test_kill_9_during_runs_leaves_no_run_running(stack_factory, tmp_path, nap_package):
    data = tmp_path / "data"
    handle = stack_factory(data_dir=data)
    target = Target.stack(handle)
    if target.request("GET", "/runs").status_code == 501:
        pytest.fail("the embedded stack answers 501 for runs")
    uploaded = target.upload("nap", nap_package, namespace="default").json()
    versions = target.request("GET", f"/pipelines/{uploaded['pipeline_id']}/versions").json()
    ref = (uploaded["pipeline_id"], versions["pipeline_versions"][0]["pipeline_version_id"])
    # a short nap: the killed stack's task processes end by themselves soon after
    acked = [create_run(target, ref, f"nap-{i}", 4.0)["run_id"] for i in range(4)]
    wait_until(lambda: "RUNNING" in run_states(target, acked).values(), 120, "a run to be RUNNING")
    at_kill = run_states(target, acked)
    handle.kill()
    assert integrity(data) == "ok"

    again = stack_factory(data_dir=data)
    target = Target.stack(again)
    after = run_states(target, acked)  # every acknowledged run is still there (404 would raise)
    # then, once settled: nothing RUNNING or PENDING is left behind
    wait_until(lambda: set(run_states(target, acked).values()) <= FINAL, 120, "runs to settle")
    final = run_states(target, acked)
    listed = target.request("GET", "/runs", params={"namespace": "default"}).json()
    listed_ids = {r["run_id"] for r in listed.get("runs", [])}
    record(
        "faults_kill_9_during_runs",
        faults_injected=1,
        runs_acknowledged=len(acked),
        running_at_kill=sum(1 for s in at_kill.values() if s == "RUNNING"),
        states_right_after_restart=sorted(after.values()),
        final_states=sorted(final.values()),
        data_lost=len(set(acked) - listed_ids),
    )
    assert set(acked) <= listed_ids
    for rid, state in at_kill.items():
        if state == "RUNNING":
            assert final[rid] == "FAILED", (rid, final[rid])  # interrupted, said so


# ---- the token file rotated under load --------------------------------------------------------


def replace_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".new")
    tmp.write_text(text)
    tmp.replace(path)


async def test_token_file_rotated_under_load_fails_no_request(
    proxied_stack, server_url, jupyter_token
):
    tokens = [proxied_stack.token] + [
        proxied_stack.create_token(f"rotated-{i}", {"default": "edit"}, "edit") for i in range(5)
    ]
    proxy = Target.proxy(server_url, jupyter_token)
    tally = Tally()
    stop = threading.Event()

    def rotate() -> None:
        # a fixed number of rotations, 50 ms apart, while the clients keep going; then stop them
        for i in range(1, ROTATIONS + 1):
            if stop.wait(0.05):
                return
            replace_atomically(proxied_stack.token_file, tokens[i % len(tokens)])
            tally.add("rotations")
        stop.set()

    def op(client: int, i: int, session: requests.Session) -> None:
        if i % 3 == 2:
            response = proxy.upload(f"rot-{client}-{i}", HELLO, session)
        else:
            response = proxy.request("GET", "/pipelines", session)
        tally.add("requests")
        if response.status_code != 200:
            tally.fail(f"{response.status_code} {response.text[:200]}")

    def load() -> float:
        rotator = threading.Thread(target=rotate)
        rotator.start()
        try:
            return run_clients(16, op, tally, seconds=60, max_ops=10_000, stop=stop)
        finally:
            stop.set()
            rotator.join(10)

    elapsed = await asyncio.to_thread(load)

    def check_reread() -> tuple[int, int]:
        # the file is read again on the next request: a bad token is refused, a good one works
        replace_atomically(proxied_stack.token_file, "not-a-token")
        refused = proxy.request("GET", "/pipelines").status_code
        replace_atomically(proxied_stack.token_file, tokens[-1])
        return refused, proxy.request("GET", "/pipelines").status_code

    refused, accepted = await asyncio.to_thread(check_reread)
    record(
        "faults_token_rotation_under_load",
        seconds=round(elapsed, 1),
        faults_injected=tally["rotations"],
        requests_served=tally["requests"],
        failed_requests=tally["failed"],
        data_lost=0 if tally["failed"] == 0 else tally["failed"],
    )
    assert tally["rotations"] == ROTATIONS
    assert tally["failed"] == 0, tally.failures
    assert (refused, accepted) == (401, 200)


# ---- the upstream stops and returns while the proxy serves ------------------------------------


async def test_upstream_stops_and_returns_while_the_proxy_serves(
    proxied_stack, stack_factory, server_url, jupyter_token, tmp_path
):
    proxy = Target.proxy(server_url, jupyter_token)
    port = int(proxied_stack.url.rsplit(":", 1)[1])
    phase = {"name": "up", "gen": 0}
    seen: list[tuple[str, str, int, dict]] = []
    lock = threading.Lock()
    tally = Tally()
    stop = threading.Event()

    def op(client: int, i: int, session: requests.Session) -> None:
        before = f"{phase['name']}#{phase['gen']}"
        response = proxy.request("GET", "/pipelines", session, timeout=60)
        after = f"{phase['name']}#{phase['gen']}"
        try:
            body = response.json()
        except ValueError:
            body = {"not json": response.text[:200]}
        with lock:
            seen.append((before, after, response.status_code, body))
        tally.add("requests")
        time.sleep(0.02)

    def drive() -> None:
        handle = proxied_stack
        load = threading.Thread(
            target=run_clients,
            args=(8, op, tally),
            kwargs={"seconds": 120, "max_ops": 100_000, "stop": stop},
        )
        load.start()
        try:
            for cycle, how in enumerate(("stop", "kill")):
                time.sleep(1.0)
                phase.update(name="going-down", gen=cycle)
                handle.stop() if how == "stop" else handle.kill()
                phase.update(name="down", gen=cycle)
                tally.add("faults_injected")
                time.sleep(1.5)
                phase.update(name="coming-back", gen=cycle)
                handle = stack_factory(data_dir=tmp_path / "proxied-stack", port=port)
                wait_until(lambda h=handle: healthy(h), 30, "the stack to answer again")
                phase.update(name="up", gen=cycle + 1)
            time.sleep(1.0)
        finally:
            stop.set()
            load.join(90)

    await asyncio.to_thread(drive)
    down = [s for s in seen if s[0] == s[1] and s[0].startswith("down")]
    up = [s for s in seen if s[0] == s[1] and s[0].startswith("up")]
    bad_down = [s for s in down if s[2] != 502 or s[3].get("code") != 14]
    bad_up = [s for s in up if s[2] != 200]
    other = [s for s in seen if s[2] not in (200, 502)]
    record(
        "faults_upstream_stops_and_returns",
        faults_injected=tally["faults_injected"],
        requests_served=len(seen),
        answered_502_while_down=len(down) - len(bad_down),
        answered_200_while_up=len(up) - len(bad_up),
        unexpected=len(bad_down) + len(bad_up) + len(other),
        data_lost=0,
    )
    assert len(down) >= 8 and len(up) >= 8, (len(down), len(up))
    assert not bad_down, bad_down[:5]
    assert not bad_up, bad_up[:5]
    assert not other, other[:5]
