"""Browser test of run results in the JupyterLab panel: the run view's Outputs section (every
output of tests/results_pipelines.py's showcase, charts drawn by JupyterLab's Vega renderer),
a task's inputs and outputs from the graph, and the Compare view over three runs.
Screenshots under tests/artifacts/ (lab_results_*.png)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lab_harness as harness
import pytest
import requests
import results_pipelines as rp
from kfp import compiler
from lab_harness import ARTIFACTS, Lab, open_panel, unique

browser = harness.browser
lab = harness.lab
page = harness.page

pytestmark = pytest.mark.browser

RUN_TIMEOUT_S = 300


def element_shot(locator: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"lab_results_{name}.png"
    locator.screenshot(path=str(path))
    return path


def start_runs(lab: Lab, tmp_path: Path, rows: list[int]) -> list[str]:
    """Upload the showcase and start one run per ``rows`` value (through the proxy)."""
    name = unique("showcase")
    package = tmp_path / "showcase.yaml"
    compiler.Compiler().compile(rp.showcase, str(package))
    pipeline = lab.upload("project", package, name)
    versions = lab.get(lab.api("project", f"pipelines/{pipeline['pipeline_id']}/versions")).json()
    version_id = versions["pipeline_versions"][0]["pipeline_version_id"]
    ids = []
    for n in rows:
        body = {
            "display_name": f"{name}-rows{n}",
            "pipeline_version_reference": {
                "pipeline_id": pipeline["pipeline_id"],
                "pipeline_version_id": version_id,
            },
            "runtime_config": {"parameters": {"rows": n}},
        }
        response = requests.post(
            lab.api("project", "runs"), json=body, headers=lab.headers, timeout=60
        )
        assert response.status_code == 200, response.text
        ids.append(response.json()["run_id"])
    return ids


def wait_succeeded(lab: Lab, run_id: str) -> None:
    import time

    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        state = lab.get(lab.api("project", f"runs/{run_id}")).json().get("state")
        if state in ("SUCCEEDED", "FAILED", "CANCELED"):
            assert state == "SUCCEEDED", lab.log_tail()
            return
        time.sleep(1)
    raise AssertionError(f"run {run_id} did not end")


def charts_drawn(page: Any, scope: str, count: int) -> None:
    """``count`` Vega-Lite charts under ``scope`` drawn by JupyterLab's renderer."""
    page.wait_for_function(
        "([scope, n]) => document.querySelectorAll(`${scope} .jp-DSP-chart "
        ".vega-embed :is(canvas, svg.marks)`).length >= n",
        arg=[scope, count],
        timeout=30_000,
    )


def test_outputs_section_shows_every_output(lab: Lab, page: Any, tmp_path: Path) -> None:
    (run_id,) = start_runs(lab, tmp_path, [4])
    wait_succeeded(lab, run_id)
    open_panel(page, lab)
    page.locator(f'.jp-DSP-run[data-run-id="{run_id}"] .jp-DSP-row-name').click()
    page.locator(f'.jp-DSP-runView[data-run-id="{run_id}"][data-state="SUCCEEDED"]').wait_for(
        timeout=60_000
    )
    outputs = page.locator(".jp-DSP-outputs")
    outputs.wait_for(timeout=30_000)

    # pipeline outputs, and every task that wrote outputs, loop iterations included
    assert "0.75" in page.locator(".jp-DSP-pipelineOutputs").inner_text()
    for task in ("make-dataset", "train", "score-fold[0]", "score-fold[1]", "score-fold[2]"):
        assert outputs.locator(f'details[data-task="{task}"]').count() == 1, task
    summary = page.locator(".jp-DSP-metricsSummary").inner_text()
    assert "train.accuracy" in summary and "score-fold[2].fold_score" in summary

    train = outputs.locator('details[data-task="train"]')
    for artifact, kind in (
        ("model", "system.Model"),
        ("metrics", "system.Metrics"),
        ("classification", "system.ClassificationMetrics"),
        ("sliced", "system.SlicedClassificationMetrics"),
        ("report", "system.HTML"),
        ("summary", "system.Markdown"),
        ("notes", "system.Artifact"),
    ):
        assert (
            train.locator(
                f'.jp-DSP-artifact[data-artifact="{artifact}"][data-type="{kind}"]'
            ).count()
            == 1
        ), artifact
    scope = '.jp-DSP-outputs details[data-task="train"]'
    charts_drawn(page, scope, 4)  # metrics bars, confusion matrix, ROC, sliced ROC
    for kind in ("metrics", "confusion", "roc"):
        assert train.locator(f'.jp-DSP-chart[data-chart="{kind}"] .vega-embed').count() >= 1
    metrics = train.locator('.jp-DSP-artifact[data-artifact="metrics"] table').inner_text()
    assert "accuracy" in metrics and "0.75" in metrics and "0.31" in metrics

    # Markdown rendered, HTML in a sandboxed frame, dataset rows, download through the server
    train.locator(".jp-DSP-markdown h1", has_text="Report").wait_for(timeout=20_000)
    assert train.locator(".jp-DSP-markdown table td", has_text="0.75").count() == 1
    frame = train.locator("iframe.jp-DSP-htmlFrame")
    assert frame.get_attribute("sandbox") == ""
    report = page.frame_locator(f"{scope} iframe.jp-DSP-htmlFrame")
    assert report.locator("h1").inner_text() == "Report"
    dataset = outputs.locator('details[data-task="make-dataset"] table.jp-DSP-dataset')
    dataset.wait_for(timeout=20_000)
    assert dataset.locator("tbody tr").count() == 4
    assert dataset.locator("thead th").all_inner_texts() == ["x", "y", "label"]
    href = train.locator('.jp-DSP-artifact[data-artifact="model"] [data-action="download"]')
    url = href.get_attribute("href")
    assert "/dsp/artifacts/" in url
    got = requests.get(requests.compat.urljoin(lab.url, url), headers=lab.headers, timeout=30)
    assert got.status_code == 200 and got.text == rp.MODEL_TEXT

    element_shot(train.locator('.jp-DSP-artifact[data-artifact="classification"]'), "confusion_roc")
    element_shot(train.locator('.jp-DSP-artifact[data-artifact="metrics"]'), "metrics")
    element_shot(train.locator('.jp-DSP-artifact[data-artifact="summary"]'), "markdown")
    element_shot(train.locator('.jp-DSP-artifact[data-artifact="report"]'), "html")
    element_shot(outputs.locator('details[data-task="make-dataset"]'), "dataset")
    page.locator(".jp-DSP-runOutputs").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "lab_results_outputs.png"))

    # a task of the graph opens its inputs, outputs and log
    page.locator('.jp-DSP-dag-node[data-task="train"]').click()
    io = page.locator(".jp-DSP-taskIO")
    io.wait_for(timeout=20_000)
    inputs = io.locator('[data-io="inputs"]')
    assert inputs.locator('[data-artifact="data"]').count() == 1
    assert "system.Dataset" in inputs.inner_text()
    assert io.locator('[data-io="outputs"] [data-name="Output"]').count() == 1
    page.locator('.jp-DSP-log[data-complete="true"]').wait_for(timeout=30_000)
    io.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "lab_results_task_io.png"))


def test_compare_three_runs(lab: Lab, page: Any, tmp_path: Path) -> None:
    ids = start_runs(lab, tmp_path, [2, 3, 4])
    for run_id in ids:
        wait_succeeded(lab, run_id)
    open_panel(page, lab)
    compare = page.locator('[data-action="compare"]')
    compare.wait_for(timeout=30_000)
    assert compare.is_disabled()
    for run_id in ids:
        page.locator(f'.jp-DSP-run[data-run-id="{run_id}"] .jp-DSP-runCheck').check()
    assert "(3)" in compare.inner_text()
    compare.click()

    view = page.locator('.jp-DSP-compare[data-runs="3"]')
    view.wait_for(timeout=60_000)
    headers = view.locator(".jp-DSP-compareTable thead th").all_inner_texts()
    assert [h.rsplit("-rows", 1)[-1] for h in headers[1:]] == ["2", "3", "4"]
    rows = view.locator('tr[data-name="rows"]')
    assert rows.get_attribute("data-differs") == "true"
    assert rows.locator("td").all_inner_texts() == ["2", "3", "4"]
    accuracy = view.locator('tr[data-name="train.accuracy"]')
    assert accuracy.get_attribute("data-differs") == "false"
    assert accuracy.locator("td").all_inner_texts() == ["0.75"] * 3
    made = view.locator('tr[data-name="Output"]')  # the pipeline's output, same in all
    assert made.locator("td").all_inner_texts() == ["0.75"] * 3
    metric_rows = view.locator("tr[data-name]").count() - 2  # minus rows and Output
    charts_drawn(page, ".jp-DSP-compare", metric_rows)
    assert view.locator('.jp-DSP-chart[data-chart="compare"]').count() == metric_rows
    page.screenshot(path=str(ARTIFACTS / "lab_results_compare.png"))
    element_shot(view.locator(".jp-DSP-compareCharts"), "compare_charts")
