"""Browser test of runs from the JupyterLab panel: the run dialog's form, a run that
reaches Succeeded in the embedded stack, its run view (graph, tasks) and a task's log.
Uses the lab launcher and fixtures of lab_harness.py."""

from __future__ import annotations

import time
from typing import Any

import lab_harness as harness
import pytest
from lab_harness import PIPELINES, Lab, open_panel, pipeline_row, search, shot, unique

# the same fixtures (a module-scoped lab and browser, a page per test)
browser = harness.browser
lab = harness.lab
page = harness.page

pytestmark = pytest.mark.browser

RUN_TIMEOUT_MS = 240_000


def test_run_from_the_dialog_succeeds_and_its_log_opens(lab: Lab, page: Any) -> None:
    name = unique("lab-run")
    lab.upload("project", PIPELINES / "critical" / "add_numbers.yaml", name)

    open_panel(page, lab)
    search(page, name)
    pipeline_row(page, name).locator('[data-action="run"]').click()

    dialog = page.locator(".jp-Dialog")
    dialog.locator('label[data-param="a"]').wait_for(timeout=20_000)
    # Both inputs are required integers with no default.
    assert dialog.locator('label[data-param="a"] .jp-DSP-required').count() == 1
    assert dialog.locator('label[data-param="b"] .jp-DSP-required').count() == 1
    assert dialog.locator('input[name="a"]').input_value() == ""
    # Starting with a missing and a malformed value is refused, with the reasons shown.
    dialog.locator('input[name="b"]').fill("three")
    dialog.locator("button.jp-mod-accept").click()
    page.locator('.jp-Dialog label[data-param="a"] .jp-DSP-field-error').wait_for(timeout=10_000)
    assert "Required" in page.locator('.jp-Dialog label[data-param="a"]').inner_text()
    assert "whole number" in page.locator('.jp-Dialog label[data-param="b"]').inner_text()
    shot(page, "run_dialog_invalid")
    assert page.locator(".jp-Dialog").count() == 1  # the dialog stayed open
    dialog.locator('input[name="a"]').fill("2")
    dialog.locator('input[name="b"]').fill("40")
    dialog.locator("button.jp-mod-accept").click()

    view = page.locator(".jp-DSP-runView[data-run-id]")
    view.wait_for(timeout=30_000)
    run_id = view.get_attribute("data-run-id")
    page.locator(f'.jp-DSP-run[data-run-id="{run_id}"]').wait_for(timeout=20_000)
    page.locator('.jp-DSP-runView[data-state="SUCCEEDED"]').wait_for(timeout=RUN_TIMEOUT_MS)

    run = lab.get(lab.api("project", f"runs/{run_id}")).json()
    assert run["state"] == "SUCCEEDED"
    assert run["runtime_config"]["parameters"] == {"a": 2, "b": 40}

    # The graph shows the task, succeeded; its log opens and has content.
    page.locator('.jp-DSP-dag-node[data-task="add-numbers"][data-state="SUCCEEDED"]').wait_for(
        timeout=20_000
    )
    page.locator('.jp-DSP-tasks tr:has-text("add-numbers") [data-action="log"]').first.click()
    log = page.locator('.jp-DSP-log[data-complete="true"]')
    log.wait_for(timeout=30_000)
    text = log.locator(".jp-DSP-log-text").inner_text()
    assert text.strip() and text != "(this task wrote no log)"
    # The run list in the panel shows the state badge too.
    badge = page.locator(f'.jp-DSP-run[data-run-id="{run_id}"] .jp-DSP-badge')
    badge.wait_for(timeout=20_000)
    page.wait_for_function(
        "id => document.querySelector(`.jp-DSP-run[data-run-id='${id}']`)"
        "?.getAttribute('data-state') === 'SUCCEEDED'",
        arg=run_id,
        timeout=20_000,
    )
    shot(page, "run_succeeded")


def test_run_a_shared_pipeline_shows_its_graph(lab: Lab, page: Any) -> None:
    name = unique("lab-shared-run")
    lab.upload("shared", PIPELINES / "critical" / "mixed_parameters.yaml", name)

    open_panel(page, lab)
    page.locator('.jp-DSP-tab[data-tab="shared"]').click()
    search(page, name)
    pipeline_row(page, name).locator('[data-action="run"]').click()
    dialog = page.locator(".jp-Dialog")
    dialog.locator(".jp-DSP-form-note", has_text="takes no parameters").wait_for(timeout=20_000)
    dialog.locator("button.jp-mod-accept").click()

    view = page.locator(".jp-DSP-runView[data-run-id]")
    view.wait_for(timeout=30_000)
    run_id = view.get_attribute("data-run-id")
    page.locator('.jp-DSP-runView[data-state="SUCCEEDED"]').wait_for(timeout=RUN_TIMEOUT_MS)

    # The run lives in the project and points at the shared version.
    run = lab.get(lab.api("project", f"runs/{run_id}")).json()
    shared_id = lab.find_pipeline("shared", name)[0]["pipeline_id"]
    assert run["pipeline_version_reference"]["pipeline_id"] == shared_id
    # Two tasks, one depending on the other: two nodes in two layers joined by an edge.
    for task in ("mantle", "crust-comp"):
        page.locator(f'.jp-DSP-dag-node[data-task="{task}"][data-state="SUCCEEDED"]').wait_for(
            timeout=20_000
        )
    assert page.locator(".jp-DSP-dag-edge").count() == 1
    ys = [
        page.locator(f'.jp-DSP-dag-node[data-task="{t}"]').bounding_box()["y"]
        for t in ("mantle", "crust-comp")
    ]
    assert ys[0] < ys[1]
    # Clicking a node opens that task's log.
    page.locator('.jp-DSP-dag-node[data-task="crust-comp"]').click()
    page.locator('.jp-DSP-log[data-complete="true"]').wait_for(timeout=30_000)
    assert "crust-comp" in page.locator(".jp-DSP-log-title").inner_text()
    shot(page, "shared_run_graph")


def test_defaults_filled_log_followed_while_running_then_terminate(lab: Lab, page: Any) -> None:
    name = unique("lab-nap")
    lab.upload("project", PIPELINES / "take_nap_compiled.yaml", name)

    open_panel(page, lab)
    search(page, name)
    pipeline_row(page, name).locator('[data-action="run"]').click()
    dialog = page.locator(".jp-Dialog")
    field = dialog.locator('label[data-param="naptime_secs"]')
    field.wait_for(timeout=20_000)
    # Optional with a default: filled in, not marked required.
    assert dialog.locator('input[name="naptime_secs"]').input_value() == "900"
    assert field.locator(".jp-DSP-required").count() == 0
    dialog.locator("button.jp-mod-accept").click()

    view = page.locator(".jp-DSP-runView[data-run-id]")
    view.wait_for(timeout=30_000)
    run_id = view.get_attribute("data-run-id")
    # The sleeping task's log is followed while it runs.
    task_log = page.locator('.jp-DSP-tasks tr:has-text("take-nap") [data-action="log"]')
    task_log.first.wait_for(timeout=60_000)
    page.locator('.jp-DSP-runView[data-state="RUNNING"]').wait_for(timeout=60_000)
    task_log.first.click()
    page.locator('.jp-DSP-log[data-complete="false"]').wait_for(timeout=20_000)
    page.locator(".jp-DSP-log-text", has_text="Sleeping for 900 seconds").wait_for(timeout=60_000)
    assert page.locator(".jp-DSP-log[data-complete='false']").count() == 1
    shot(page, "run_following_log")

    # Terminate from the panel's run list.
    row = page.locator(f'.jp-DSP-run[data-run-id="{run_id}"]')
    row.locator('[data-action="terminate"]').click()
    page.locator('.jp-DSP-runView[data-state="CANCELED"]').wait_for(timeout=60_000)
    run = lab.get(lab.api("project", f"runs/{run_id}")).json()
    assert run["state"] == "CANCELED"
    page.locator(f'.jp-DSP-run[data-run-id="{run_id}"][data-state="CANCELED"]').wait_for(
        timeout=20_000
    )
    assert row.locator('[data-action="terminate"]').count() == 0
    shot(page, "run_canceled")

    # The run view is part of the workspace: once saved, a reload brings it back.
    deadline = time.monotonic() + 30
    while f"jupyter-dsp-runs:{run_id}" not in lab.get(f"{lab.url}lab/api/workspaces").text:
        assert time.monotonic() < deadline, "the workspace never recorded the run view"
        time.sleep(0.5)
    page.reload()
    page.locator(f'.jp-DSP-runView[data-run-id="{run_id}"][data-state="CANCELED"]').wait_for(
        timeout=60_000
    )
