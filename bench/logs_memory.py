"""Giant logs (issue 10): a step prints 100 MB; how much memory the kernel grows while
``%dsp logs`` and the RunMonitor follow it, and how big a notebook is once saved with the
monitor's widget state.

Usage: python bench/logs_memory.py [--mb 100]

It starts an embedded stack on a temporary data dir, runs a one-step pipeline that prints
``--mb`` megabytes, and while it runs, in this process (the "kernel"):
- a RunMonitor follows the step's log (polls only new bytes, keeps the tail);
- ``client.logs(run, task)`` (what ``%dsp logs`` calls) is read after the run ends;
- the monitor widget's state is written into a notebook (ipywidgets' saved state) and the
  notebook's size measured.
Figures printed side by side with the targets (< 50 MB growth, < 2 MB notebook). The panel's
log view frame time is not measured here (see the closing note of issue 10).
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import tempfile
import time
from pathlib import Path

import psutil

SOURCE = """
from kfp import dsl

@dsl.component
def chatty(mb: int):
    import sys
    line = "x" * 99 + "\\n"
    for i in range(mb * 10_000):  # 100-byte lines, 10,000 per MB
        sys.stdout.write(line)
    print("THE END")

@dsl.pipeline(name="bench-chatty")
def pipe(mb: int = 1):
    chatty(mb=mb)
"""


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=100)
    args = parser.parse_args()

    import ipywidgets
    import nbformat

    from jupyter_dsp.client import DSPClient
    from jupyter_dsp.stack import start_stack
    from jupyter_dsp.widgets import RunMonitor

    work = Path(tempfile.mkdtemp(prefix="bench-logs-"))
    stack = start_stack(work / "stack")
    try:
        client = DSPClient.from_endpoint(stack.url, stack.token, namespace="default")
        path = work / "chatty.py"
        path.write_text(SOURCE)
        client.upload(str(path))
        gc.collect()
        base = rss_mb()
        peak = base
        started = time.monotonic()
        run = client.run("bench-chatty", {"mb": args.mb})
        monitor = RunMonitor(client, run, poll_interval=0.5)
        selected = False
        while not monitor.finished.wait(0.5):
            if not selected and monitor.run.task("chatty") is not None:
                monitor.select_task("chatty")
                selected = True
            peak = max(peak, rss_mb())
        final = monitor.run
        if not selected:
            monitor.select_task("chatty")
        run_s = time.monotonic() - started
        peak = max(peak, rss_mb())
        t0 = time.monotonic()
        logs = client.logs(final.id, "chatty")
        html = logs._repr_html_() or ""
        logs_s = time.monotonic() - t0
        peak = max(peak, rss_mb())
        size = client.read_log(final.id, final.task("chatty").id, max_bytes=1).size

        # the notebook as saved: the monitor's widget state plus the logs output
        state = ipywidgets.Widget.get_manager_state(drop_defaults=True)
        nb = nbformat.v4.new_notebook()
        nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": state}
        nb.cells.append(
            nbformat.v4.new_code_cell(
                "%dsp logs RUN chatty",
                outputs=[
                    nbformat.v4.new_output(
                        "execute_result",
                        {"text/plain": str(logs), **({"text/html": html} if html else {})},
                        execution_count=1,
                    )
                ],
            )
        )
        nb_path = work / "saved.ipynb"
        nbformat.write(nb, str(nb_path))
        nb_mb = nb_path.stat().st_size / 1e6
        growth = peak - base
        shown = len(str(logs).encode())
        print(
            json.dumps(
                {
                    "log_mb": round(size / 1e6, 1),
                    "run_state": final.state,
                    "run_s": round(run_s, 1),
                    "kernel_rss_base_mb": round(base, 1),
                    "kernel_rss_peak_mb": round(peak, 1),
                    "kernel_growth_mb": round(growth, 1),
                    "logs_shown_bytes": len(str(logs).encode()),
                    "logs_html_bytes": len(html.encode()),
                    "logs_read_s": round(logs_s, 2),
                    "monitor_view_bytes": len(monitor.log_view.value.encode()),
                    "notebook_mb": round(nb_mb, 2),
                }
            )
        )
        print(
            f"kernel growth {growth:.1f} MB (target < 50 MB: "
            f"{'met' if growth < 50 else 'MISSED'}); notebook {nb_mb:.2f} MB (target < 2 MB: "
            f"{'met' if nb_mb < 2 else 'MISSED'}); log {size / 1e6:.0f} MB, shown "
            f"{shown / 1e6:.2f} MB ({size / max(1, shown):.0f}x smaller)"
        )
    finally:
        stack.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
