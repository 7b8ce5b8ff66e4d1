"""Issue 10: logs are bounded in the kernel. `%dsp logs` shows the tail (a setting) and says how
to read earlier parts; the RunMonitor polls only new bytes and never holds a whole log (its
widget state is what a saved notebook keeps). A real stack and a real IPython shell."""

from __future__ import annotations

import uuid

import pytest
from kernel_helpers import client_for
from kernel_shell import run_cell

from jupyter_dsp.widgets import RunMonitor
from jupyter_dsp.widgets.run_monitor import MONITOR_LOG_BYTES

LINES = 40_000  # 40,000 lines of 50 bytes: 2 MB
SOURCE = """
from kfp import dsl

@dsl.component
def chatty(lines: int):
    for i in range(lines):
        print(f"line {{i:08d}} " + "x" * 35)
    print("THE END")

@dsl.pipeline(name="{name}")
def pipe(lines: int = 10):
    chatty(lines=lines)
"""


@pytest.fixture(scope="module")
def big_log_run(stack, tmp_path_factory):
    client = client_for(stack)
    name = f"chatty-{uuid.uuid4().hex[:8]}"
    path = tmp_path_factory.mktemp("chatty") / "chatty.py"
    path.write_text(SOURCE.format(name=name))
    client.upload(str(path))
    run = client.wait(client.run(name, {"lines": LINES}), timeout=240)
    assert run.state == "SUCCEEDED", run.error
    return run


def test_magic_logs_shows_the_tail_and_reads_earlier_parts(shell, big_log_run, monkeypatch):
    magic_client = shell.magics_manager.registry["DSPMagic"].client
    monkeypatch.setattr(magic_client, "log_tail_bytes", 200_000)
    logs = run_cell(shell, f"%dsp logs {big_log_run.id} chatty")
    text = str(logs)
    assert len(text.encode()) < 200_000 + 1_000
    assert "THE END" in text[-5_000:]
    assert "earlier bytes" in text and "--start" in text
    assert logs._repr_html_() is None  # one text/plain copy of a long log, no HTML twin
    first = str(run_cell(shell, f"%dsp logs {big_log_run.id} chatty --start 0 --bytes 100"))
    assert len(first.encode()) == 100 and "THE END" not in first
    assert first == text_of_head(magic_client, big_log_run.id)[:100]


def text_of_head(client, run_id: str) -> str:
    task = client.get_run(run_id).task("chatty")
    return client.log_chunk(run_id, task.id, 0).text


def test_run_monitor_keeps_only_the_tail(stack, big_log_run):
    client = client_for(stack)
    monitor = RunMonitor(client, big_log_run.id, autostart=False)
    monitor.select_task("chatty")
    assert "THE END" in monitor.log_view.value
    assert len(monitor.log_view.value.encode()) < MONITOR_LOG_BYTES + 2_000
    assert "earlier output not shown" in monitor.log_view.value
