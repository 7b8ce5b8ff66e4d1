"""Issue 10: the RunMonitor graph takes each node's label and state from the same task record,
so a task renamed with ``.set_display_name(...)`` shows SUCCEEDED, not PENDING."""

from __future__ import annotations

from kernel_helpers import client_for

from jupyter_dsp.widgets import RunMonitor

SOURCE = """
from kfp import dsl

@dsl.component
def make(n: int) -> int:
    print("making", n)
    return n + 1

@dsl.component
def show(x: int):
    print("got", x)

@dsl.pipeline(name="{name}")
def pipe(n: int = 1):
    first = make(n=n).set_display_name("First step")
    show(x=first.output).set_display_name("Show it")
"""


def test_renamed_tasks_show_their_own_state(stack, tmp_path, unique_name):
    client = client_for(stack)
    name = unique_name("renamed")
    path = tmp_path / "renamed.py"
    path.write_text(SOURCE.format(name=name))
    client.upload(str(path))
    run = client.run(name, {"n": 2})
    monitor = RunMonitor(client, run, poll_interval=0.2)
    final = monitor.wait(240)
    assert final.state == "SUCCEEDED", final.error
    svg = monitor.graph.value
    assert "<title>First step: SUCCEEDED</title>" in svg, svg
    assert "<title>Show it: SUCCEEDED</title>" in svg, svg
    assert "PENDING" not in svg
    labels = [b.description for b in monitor.task_buttons.children]
    assert labels == ["First step", "Show it"]
    log = monitor.select_task("Show it")
    assert "got 3" in log
