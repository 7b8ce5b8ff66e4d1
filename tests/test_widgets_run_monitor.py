"""Run form and monitor without a browser: a run started from the form is followed to the end."""

from __future__ import annotations

import time

import pytest
from kernel_helpers import client_for, write_pipeline

from jupyter_dsp.client.render import state_colour
from jupyter_dsp.widgets import PipelineBrowser, RunForm, RunMonitor

WAIT = 240


@pytest.fixture
def client(stack):
    return client_for(stack)


def _assert_graph_shows_final_records(monitor: RunMonitor, allowed: dict[str, tuple]) -> None:
    """Each node of the monitor's graph shows its task's final state (SUCCEEDED unless
    ``allowed`` names others) in that state's colour."""
    graph = monitor.graph.value
    for name, others in allowed.items():
        task = monitor.run.task(name)
        assert task is not None, name
        assert task.state in ("SUCCEEDED", *others), (name, task.state)
        assert f"<title>{name}: {task.state}</title>" in graph, (name, task.state)
        node = graph.split(f"<title>{name}: {task.state}</title>", 1)[1].split("</g>", 1)[0]
        assert f'fill="{state_colour(task.state)}"' in node, (name, node)


def test_run_started_from_the_form_is_followed_to_succeeded(client, tmp_path, unique_name):
    name = unique_name("form")
    client.upload(str(write_pipeline(tmp_path, name)))
    browser = PipelineBrowser(client, user_ns={}, poll_interval=0.2)
    form = browser.open_run_form(browser.row("project", name))
    form.inputs["a"].value = "4"
    form.inputs["flags"].value = '["f"]'
    form.run_button.click()
    assert form.last_run is not None, form.status.value
    monitor = form.monitor
    assert isinstance(monitor, RunMonitor)
    run = monitor.wait(WAIT)
    assert run.state == "SUCCEEDED", run.error
    assert not monitor.polling
    assert monitor.progress.value == monitor.progress.max == 2
    assert "SUCCEEDED" in monitor.header.value
    # the final graph comes from the final task records: label and colour from the same record.
    # ``add`` may be CACHED (another test of this session's stack ran it with a=4 before).
    _assert_graph_shows_final_records(monitor, {"add": ("SUCCEEDED", "CACHED"), "report": ()})
    assert monitor.terminate_button.disabled
    assert monitor.terminate_button.button_style == ""  # grey, not a red button that does nothing
    assert run.parameters["a"] == 4 and run.parameters["flags"] == ["f"]

    report = next(b for b in monitor.task_buttons.children if b.description == "report")
    report.click()
    assert "sum: total=4.5 flags=[&#x27;f&#x27;]" in monitor.log_view.value or "total=4.5" in (
        monitor.log_view.value
    )


def test_terminate_button_stops_the_run(client, tmp_path, unique_name):
    name = unique_name("stop")
    client.upload(str(write_pipeline(tmp_path, name, sleep=60)))
    form = RunForm(client, name, poll_interval=0.2)
    form.inputs["a"].value = "1"
    run = form.submit()
    assert run is not None
    form.monitor.terminate_button.click()
    final = form.monitor.wait(WAIT)
    assert final.state == "CANCELED"
    assert not form.monitor.polling


def test_monitor_of_a_finished_run_does_not_poll(client, tmp_path, unique_name):
    name = unique_name("done")
    client.upload(str(write_pipeline(tmp_path, name)))
    run = client.run(name, {"a": 1}, wait=True, timeout=WAIT)
    monitor = RunMonitor(client, run.id)
    assert not monitor.polling and monitor.finished.is_set()
    assert monitor.progress.value == monitor.progress.max


def test_run_a_shared_pipeline_from_the_browser(client, tmp_path, unique_name):
    name = unique_name("sharedrun")
    client.upload(str(write_pipeline(tmp_path, name)), shared=True)
    browser = PipelineBrowser(client, user_ns={}, poll_interval=0.2)
    browser.row("shared", name).run_button.click()
    form = browser.form
    assert "(shared)" in form.heading.value
    form.inputs["a"].value = "7"
    run = form.submit()
    assert run is not None, form.status.value
    final = form.monitor.wait(WAIT)
    assert final.state == "SUCCEEDED", final.error
    assert final.id in [r.id for r in client.runs(limit=20)]  # runs live in the project


def test_monitor_reports_a_stack_that_went_away_and_keeps_trying(stack_factory, tmp_path):
    import time

    own = stack_factory()
    client = client_for(own)
    client.upload(str(write_pipeline(tmp_path, "away", sleep=60)))
    run = client.run("away", {"a": 1})
    monitor = RunMonitor(client, run, poll_interval=0.1)
    assert monitor.polling
    own.stop()
    deadline = time.monotonic() + 60
    while monitor.errors == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert monitor.errors >= 1
    assert "cannot reach" in monitor.status.value
    assert monitor.polling  # still trying, more slowly
    monitor.stop()
    assert not monitor.polling and monitor.finished.is_set()


def test_a_rerun_with_the_same_inputs_shows_cached_steps(client, tmp_path, unique_name):
    """Steps served from the step cache are CACHED in the monitor (graph, progress)."""
    name = unique_name("cached")
    client.upload(str(write_pipeline(tmp_path, name)))
    finals = []
    cold = str(int(time.time() * 1000) % 10**9)  # an input no earlier run had: a cold cache
    for _ in range(2):
        form = RunForm(client, name, poll_interval=0.2)
        form.inputs["a"].value = cold
        assert form.submit() is not None, form.status.value
        run = form.monitor.wait(WAIT)
        assert run.state == "SUCCEEDED", run.error
        assert not form.monitor.polling
        finals.append(form.monitor)
    first, second = finals
    _assert_graph_shows_final_records(first, {"add": (), "report": ()})
    _assert_graph_shows_final_records(second, {"add": ("CACHED",), "report": ("CACHED",)})
    assert {t.state for t in second.run.tasks if t.name in ("add", "report")} == {"CACHED"}
    assert second.progress.value == second.progress.max == 2
