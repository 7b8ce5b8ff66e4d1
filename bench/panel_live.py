"""What the live panel costs while idle, and how long a change made elsewhere takes to show.

Starts a real ``jupyter lab`` (embedded stack, the server logging every request) on a free
port, uploads ``--pipelines`` pipelines (1,000) into the project, opens the panel in Debian's
Chromium (Playwright) and measures, side by side in one run:

- idle, panel open:    ``--seconds`` (60) with the panel visible and nothing changing
- idle, panel hidden:  the same with the left sidebar collapsed (the panel hidden)
- idle, page hidden:   the same with the panel visible but the browser tab hidden

For each: the requests the page made to ``dsp/`` (counted in the browser) and the ``dsp/``
requests the Jupyter server answered (its access log), per minute; the CPU time of the
server (with its embedded stack) and of the browser (every Chromium process), as % of one
core. Then ``--changes`` (20) changes made through the stack's API as a kernel's ``%dsp``
makes them, alternately a pipeline upload and a run start, each timed from the API's answer
to its row in the open panel: p50 and p95.

    python bench/panel_live.py [--pipelines 1000] [--seconds 60] [--changes 20]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from lab_harness import (  # noqa: E402  (the tests' lab launcher)
    CHROMIUM,
    CHROMIUM_ARGS,
    PIPELINES,
    Lab,
    start_lab,
    stop_lab,
)
from lab_render_1000 import seed  # noqa: E402

DSP_REQUEST = re.compile(r"\] \d{3} (GET|POST|PATCH|DELETE) /dsp/")
ADD = PIPELINES / "critical" / "add_numbers.yaml"


def tree_cpu(root: psutil.Process, match: str | None = None) -> float:
    """CPU seconds (user + system) of ``root``'s process tree (those named ``match``)."""
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        try:
            if match and match not in proc.name():
                continue
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return total


def server_requests(lab: Lab) -> int:
    text = lab.log_path.read_text(errors="replace")
    return sum(1 for line in text.splitlines() if DSP_REQUEST.search(line))


def idle(lab: Lab, page: Any, seen: list[str], seconds: float) -> dict[str, float]:
    server = psutil.Process(lab.process.pid)
    me = psutil.Process()
    page.wait_for_timeout(2000)  # settle (an aborted long poll reaches the log)
    b0, s0 = len(seen), server_requests(lab)
    c_server, c_browser, t0 = tree_cpu(server), tree_cpu(me, "chrom"), time.monotonic()
    page.wait_for_timeout(seconds * 1000)
    elapsed = time.monotonic() - t0
    per_min = 60.0 / elapsed
    return {
        "browser_req_per_min": (len(seen) - b0) * per_min,
        "server_req_per_min": (server_requests(lab) - s0) * per_min,
        "server_cpu_pct": 100 * (tree_cpu(server) - c_server) / elapsed,
        "browser_cpu_pct": 100 * (tree_cpu(me, "chrom") - c_browser) / elapsed,
    }


def set_page_hidden(page: Any, hidden: bool) -> None:
    page.evaluate(
        """hidden => {
          const define = (name, value) =>
            Object.defineProperty(document, name, { configurable: true, get: () => value });
          define('visibilityState', hidden ? 'hidden' : 'visible');
          define('hidden', hidden);
          document.dispatchEvent(new Event('visibilitychange'));
        }""",
        hidden,
    )


def start_run(lab: Lab, pipeline_id: str, name: str) -> str:
    versions = lab.get(lab.api("project", f"pipelines/{pipeline_id}/versions")).json()
    body = {
        "display_name": name,
        "pipeline_version_reference": {
            "pipeline_id": pipeline_id,
            "pipeline_version_id": versions["pipeline_versions"][0]["pipeline_version_id"],
        },
        "runtime_config": {"parameters": {"a": 1, "b": 2}},
    }
    response = requests.post(lab.api("project", "runs"), json=body, headers=lab.headers, timeout=60)
    response.raise_for_status()
    return str(response.json()["run_id"])


def changes(lab: Lab, page: Any, count: int) -> list[float]:
    """Seconds from the API's answer to the row in the panel, for ``count`` changes."""
    runnable = lab.upload("project", ADD, "0000-bench-runnable")
    out = []
    for i in range(count):
        page.wait_for_timeout(500)
        if i % 2 == 0:
            name = f"0000-bench-live-{i:03d}"  # sorts first: on the first page of names
            lab.upload("project", ADD, name)
            selector = f'.jp-DSP-pipeline[data-name="{name}"]'
        else:
            run_id = start_run(lab, runnable["pipeline_id"], f"bench-live-{i:03d}")
            selector = f'.jp-DSP-run[data-run-id="{run_id}"]'
        t0 = time.perf_counter()
        page.wait_for_selector(selector, timeout=30_000)
        out.append(time.perf_counter() - t0)
    return out


def poll_costs(lab: Lab, repeat: int) -> dict[str, tuple[float, int]]:
    """Median ms and bytes of one round of the change feed (what the server does each second
    while a panel is open: one token per list) against what a naive poll would reload."""
    session = requests.Session()
    session.headers.update(lab.headers)
    namespace = lab.info()["namespace"]
    api = lab.api("project", "")
    rounds = {
        "dsp/changes (2 tokens)": [(f"{lab.url}dsp/changes", {"watch": "pipelines:project,runs"})],
        "full reload (100 pipelines + 20 runs)": [
            (f"{api}pipelines", {"namespace": namespace, "page_size": 100, "sort_by": "name asc"}),
            (f"{api}runs", {"namespace": namespace, "page_size": 20, "sort_by": "created_at desc"}),
        ],
    }
    out = {}
    for label, calls in rounds.items():
        times, size = [], 0
        for _ in range(repeat):
            t0, size = time.perf_counter(), 0
            for url, params in calls:
                response = session.get(url, params=params, timeout=60)
                response.raise_for_status()
                size += len(response.content)
            times.append((time.perf_counter() - t0) * 1000)
        out[label] = (statistics.median(times), size)
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pipelines", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--changes", type=int, default=20)
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    base = Path(tempfile.mkdtemp(prefix="panel-live-"))
    (base / "config").mkdir(parents=True)
    (base / "config" / "jupyter_server_config.json").write_text(
        json.dumps({"ServerApp": {"log_level": "DEBUG"}})
    )
    lab = start_lab(base)
    try:
        took = seed(lab, args.pipelines, "bench")
        print(f"seeded {args.pipelines} pipelines in {took:.1f} s")
        costs = poll_costs(lab, 20)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
            seen: list[str] = []

            def count(req: Any) -> None:
                if "/dsp/" in req.url:
                    seen.append(req.url)

            page.on("request", count)
            page.goto(f"{lab.url}lab/workspaces/bench-live?token={lab.token}")
            page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=60_000)
            tab = page.locator('li.lm-TabBar-tab[data-id="jupyter-dsp-panel"]')
            if "lm-mod-current" not in (tab.get_attribute("class") or ""):
                tab.click()
            page.wait_for_selector(f'.jp-DSP-count[data-count="{args.pipelines}"]', timeout=60_000)
            rows = {}
            rows["panel open"] = idle(lab, page, seen, args.seconds)
            tab.click()  # collapse the sidebar: the panel is hidden
            page.wait_for_selector("#jupyter-dsp-panel", state="hidden")
            rows["panel hidden"] = idle(lab, page, seen, args.seconds)
            tab.click()
            page.wait_for_selector("#jupyter-dsp-panel", state="visible")
            set_page_hidden(page, True)
            rows["page hidden"] = idle(lab, page, seen, args.seconds)
            set_page_hidden(page, False)
            page.wait_for_timeout(2000)
            latencies = changes(lab, page, args.changes)
            browser.close()
    finally:
        stop_lab(lab)

    print(f"\nidle for {args.seconds:g} s each, {args.pipelines} pipelines on the stack")
    head = ["browser req/min", "server req/min", "server CPU", "browser CPU"]
    print(f"{'':14} {head[0]:>16} {head[1]:>15} {head[2]:>11} {head[3]:>12}")
    for label, r in rows.items():
        print(
            f"{label:14} {r['browser_req_per_min']:16.1f} {r['server_req_per_min']:15.1f} "
            f"{r['server_cpu_pct']:10.2f}% {r['browser_cpu_pct']:11.2f}%"
        )
    print("\none round, median of 20 (what is fetched per check):")
    for label, (median_ms, size) in costs.items():
        print(f"  {label:40} {median_ms:7.1f} ms  {size:8,d} bytes")
    ms = [s * 1000 for s in latencies]
    print(
        f"\n{len(ms)} changes (pipeline uploads and run starts) to their row in the open panel: "
        f"p50 {statistics.median(ms):.0f} ms, p95 {pct(ms, 0.95):.0f} ms, max {max(ms):.0f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
