"""Recurring runs at scale on the embedded stack: 1,000 schedules loaded.

One child-process stack (``workers=1``, so queued runs cost little), one uploaded pipeline:

1. idle CPU of the stack process for ``--idle`` seconds with no schedule, then again with
   1,000 enabled schedules whose next firing is far away (cron ``0 0 0 1 1 *``): side by side;
2. firing latency (run ``created_at`` minus its trigger time): ``--spread`` schedules that fire
   once each, spread over 20 seconds (periodic, start/end window), while the 1,000 stay loaded;
3. a burst: ``--burst`` schedules that all fire in the same second;
4. restart: time for a stopped stack to answer again, with no schedule and with all of them.

The runs made are deleted as soon as they are counted. Prints the figures.

    python bench/schedules.py [--schedules 1000] [--spread 100] [--burst 200] [--idle 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psutil
import requests
from kfp import compiler

from jupyter_dsp.stack import start_stack

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from sample_pipelines import adder  # noqa: E402  (shared with the run tests)

API = "/apis/v2beta1"


def rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


class Stack:
    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self.s = requests.Session()
        self.s.headers["Authorization"] = f"Bearer {handle.token}"

    def call(self, method: str, path: str, **kw: Any) -> Any:
        r = self.s.request(method, self.handle.url + API + path, timeout=120, **kw)
        r.raise_for_status()
        return r.json()


def idle_cpu(pid: int, seconds: float) -> float:
    """CPU percent of one core used by the process over ``seconds``."""
    proc = psutil.Process(pid)
    before = proc.cpu_times()
    time.sleep(seconds)
    after = proc.cpu_times()
    used = (after.user - before.user) + (after.system - before.system)
    return 100.0 * used / seconds


def create(stack: Stack, pid: str, name: str, trigger: dict[str, Any]) -> str:
    body = {
        "display_name": name,
        "pipeline_version_reference": {"pipeline_id": pid},
        "runtime_config": {"parameters": {"a": 1}},
        "trigger": trigger,
        "max_concurrency": "10",
    }
    return stack.call("POST", "/recurringruns", json=body)["recurring_run_id"]


def made_runs(stack: Stack, prefix: str) -> list[dict[str, Any]]:
    flt = (
        '{"predicates":[{"key":"display_name","operation":"IS_SUBSTRING",'
        f'"string_value":"{prefix}"}}]}}'
    )
    runs: list[dict[str, Any]] = []
    token = ""
    while True:
        params = {"page_size": "200", "filter": flt}
        if token:
            params = {"page_size": "200", "page_token": token}
        page = stack.call("GET", "/runs", params=params)
        runs += page.get("runs", [])
        token = page.get("next_page_token", "")
        if not token:
            return runs


def latencies(runs: list[dict[str, Any]]) -> list[float]:
    """created_at minus the trigger time in the run's name (seconds)."""
    out = []
    for run in runs:
        trigger = parse(run["display_name"].rsplit(" ", 1)[1])
        out.append(parse(run["created_at"]) - trigger)
    return sorted(out)


def pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def fire_once_at(stack: Stack, pid: str, name: str, when: int) -> str:
    """A periodic schedule whose only firing is at ``when``."""
    window = {"start_time": rfc3339(when - 1), "end_time": rfc3339(when)}
    return create(stack, pid, name, {"periodic_schedule": {"interval_second": "1", **window}})


def wait_for(stack: Stack, prefix: str, count: int, deadline: float) -> list[dict[str, Any]]:
    runs = made_runs(stack, prefix)
    while len(runs) < count and time.time() < deadline:
        time.sleep(0.5)
        runs = made_runs(stack, prefix)
    return runs


def delete_runs(stack: Stack, runs: list[dict[str, Any]]) -> None:
    for run in runs:
        stack.s.delete(f"{stack.handle.url}{API}/runs/{run['run_id']}", timeout=60)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--schedules", type=int, default=1000)
    ap.add_argument("--spread", type=int, default=100)
    ap.add_argument("--burst", type=int, default=200)
    ap.add_argument("--idle", type=float, default=20.0)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        package = Path(tmp) / "adder.yaml"
        compiler.Compiler().compile(adder, str(package))
        data_dir = Path(tmp) / "data"
        handle = start_stack(data_dir, workers=1)
        stack = Stack(handle)
        with package.open("rb") as f:
            r = stack.s.post(
                f"{handle.url}{API}/pipelines/upload",
                params={"name": "adder", "namespace": "default"},
                files={"uploadfile": ("adder.yaml", f)},
                timeout=60,
            )
        r.raise_for_status()
        pid = r.json()["pipeline_id"]

        handle.stop()  # restart time with no schedule, for comparison with the end
        t1 = time.perf_counter()
        handle = start_stack(data_dir, workers=1)
        restart_empty_s = time.perf_counter() - t1
        stack = Stack(handle)
        time.sleep(2)
        cpu_empty = idle_cpu(handle.pid, args.idle)
        t0 = time.perf_counter()
        yearly = {"cron_schedule": {"cron": "0 0 0 1 1 *"}}
        for i in range(args.schedules):
            create(stack, pid, f"yearly-{i}", yearly)
        create_s = time.perf_counter() - t0
        time.sleep(2)
        cpu_loaded = idle_cpu(handle.pid, args.idle)

        # spread: one firing per schedule, over 20 seconds
        start = int(time.time()) + 5
        for i in range(args.spread):
            fire_once_at(stack, pid, f"spread-{i}", start + i % 20)
        spread_runs = wait_for(stack, "spread-", args.spread, start + 60)
        spread = latencies(spread_runs)
        delete_runs(stack, spread_runs)

        # burst: all in the same second
        at = int(time.time()) + 5 + args.burst // 100
        for i in range(args.burst):
            fire_once_at(stack, pid, f"burst-{i}", at)
        burst_runs = wait_for(stack, "burst-", args.burst, at + 120)
        burst = latencies(burst_runs)
        delete_runs(stack, burst_runs)

        total = stack.call("GET", "/recurringruns", params={"page_size": "1"})["total_size"]
        handle.stop()
        t1 = time.perf_counter()
        handle = start_stack(data_dir, workers=1)
        restart_s = time.perf_counter() - t1
        stack = Stack(handle)
        listed = stack.call("GET", "/recurringruns", params={"page_size": "1"})
        handle.stop()

    print(f"schedules loaded: {total} ({args.schedules} yearly + spread + burst, all stored)")
    print(
        f"creating {args.schedules} schedules: {create_s:.1f} s "
        f"({1000 * create_s / args.schedules:.1f} ms each)"
    )
    print(
        f"stack idle CPU over {args.idle:.0f} s: {cpu_empty:.2f} % of a core with 0 schedules,"
        f" {cpu_loaded:.2f} % with {args.schedules}"
    )
    print(
        f"firing latency, {len(spread)}/{args.spread} spread over 20 s: "
        f"p50 {1000 * pct(spread, 0.5):.0f} ms, p95 {1000 * pct(spread, 0.95):.0f} ms, "
        f"max {1000 * spread[-1]:.0f} ms"
    )
    print(
        f"firing latency, {len(burst)}/{args.burst} due in the same second: "
        f"p50 {1000 * pct(burst, 0.5):.0f} ms, p95 {1000 * pct(burst, 0.95):.0f} ms, "
        f"max {1000 * burst[-1]:.0f} ms"
    )
    print(
        f"restart: serving again in {restart_empty_s:.2f} s with 0 schedules,"
        f" {restart_s:.2f} s with {listed.get('total_size')}"
        f" ({restart_s / restart_empty_s:.2f}x)"
    )
    print(f"median spread latency: {1000 * statistics.median(spread):.0f} ms")


if __name__ == "__main__":
    main()
