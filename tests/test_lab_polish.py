"""Browser tests of the panel's polish (issue 22): a run with default parameters shows them;
floats at a readable precision (0.1, not 0.09999999999999998); a metrics artifact with one
metric still draws its chart; table headers break between words only; parameter types in
plain words in the version diff (float, not NUMBER_DOUBLE). Uses the lab launcher and
fixtures of lab_harness.py against the embedded stack."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import lab_harness as harness
import pytest
import requests
from lab_harness import Lab, open_panel, pipeline_row, search, shot, unique
from test_lab_lifecycle import compile_to

browser = harness.browser
lab = harness.lab
page = harness.page

pytestmark = pytest.mark.browser

V1 = """
from kfp import dsl
from kfp.dsl import Metrics, Output

@dsl.component(base_image="python:3.11")
def score(rate: float, scores: Output[Metrics]) -> float:
    scores.log_metric("score", 0.1 + 0.2)
    return 1 - 0.9 + rate - rate

@dsl.component(base_image="python:3.11")
def locate() -> str:
    return "s3://bucket/" + "a" * 160  # one long word: it squeezes the header column

@dsl.pipeline(name="polish")
def polish(rate: float = 0.1, count: int = 3) -> float:
    locate()
    return score(rate=rate).outputs["Output"]
"""

V2 = V1.replace("rate: float = 0.1, count: int = 3", "rate: float = 0.2, label: str = 'x'")


def wait_final(lab: Lab, run_id: str) -> str:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        state = lab.get(lab.api("project", f"runs/{run_id}")).json().get("state")
        if state in ("SUCCEEDED", "FAILED", "CANCELED"):
            return str(state)
        time.sleep(1)
    raise AssertionError(f"run {run_id} did not end")


HEADERS_ON_ONE_LINE = """scope => [...document.querySelectorAll(`${scope} thead th`)]
  .filter(th => th.textContent.trim())
  .map(th => {
    const range = document.createRange();
    range.selectNodeContents(th);
    const tops = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
    return [th.textContent.trim(), tops.size];
  })"""


def test_defaults_floats_one_metric_headers_and_type_words(
    lab: Lab, page: Any, tmp_path: Path
) -> None:
    name = unique("polish")
    pipeline = lab.upload("project", compile_to(tmp_path, V1, "v1"), name)
    versions = lab.get(lab.api("project", f"pipelines/{pipeline['pipeline_id']}/versions")).json()
    body = {
        "display_name": f"{name}-run",
        "pipeline_version_reference": {
            "pipeline_id": pipeline["pipeline_id"],
            "pipeline_version_id": versions["pipeline_versions"][0]["pipeline_version_id"],
        },
        "runtime_config": {},  # every default
    }
    response = requests.post(lab.api("project", "runs"), json=body, headers=lab.headers, timeout=60)
    assert response.status_code == 200, response.text
    run_id = response.json()["run_id"]
    assert wait_final(lab, run_id) == "SUCCEEDED", lab.log_tail()

    # a narrow panel-like main area: tables are squeezed
    page.set_viewport_size({"width": 560, "height": 900})
    open_panel(page, lab)
    page.locator(f'.jp-DSP-run[data-run-id="{run_id}"] .jp-DSP-row-name').click()
    view = page.locator(f'.jp-DSP-runView[data-run-id="{run_id}"]')
    view.wait_for(timeout=30_000)

    # the parameters it ran with: the spec's defaults, marked as such
    rate = view.locator('.jp-DSP-params tr[data-name="rate"]')
    rate.wait_for(timeout=20_000)
    assert rate.get_attribute("data-default") == "true"
    assert rate.locator("td").inner_text().startswith("0.1")
    assert (
        view.locator('.jp-DSP-params tr[data-name="count"]').get_attribute("data-default") == "true"
    )
    assert "No parameters" not in view.locator(".jp-DSP-runSide").inner_text()

    # floats rounded for reading; the one-metric artifact drawn as a chart
    page.wait_for_function(
        "id => document.querySelector(`.jp-DSP-runView[data-run-id='${id}']`)"
        "?.innerText.includes('0.3')",
        arg=run_id,
        timeout=60_000,
    )
    text = view.inner_text()
    assert "0.09999999999999998" not in text and "0.30000000000000004" not in text
    page.wait_for_function(
        "id => document.querySelectorAll(`.jp-DSP-runView[data-run-id='${id}'] "
        ".jp-DSP-chart[data-chart='metrics'] .vega-embed :is(canvas, svg.marks)`).length >= 1",
        arg=run_id,
        timeout=30_000,
    )
    # every table header on one line: "outputs", never "outpu" / "ts"
    page.evaluate(
        "() => document.querySelectorAll('.jp-DSP-taskOutputs').forEach(d => (d.open = true))"
    )
    view.locator('.jp-DSP-taskOutputs[data-task="locate"] .jp-DSP-outParams').wait_for(
        timeout=20_000
    )
    headers = page.evaluate(HEADERS_ON_ONE_LINE, f".jp-DSP-runView[data-run-id='{run_id}']")
    assert headers and all(lines == 1 for _, lines in headers), headers
    shot(page, "polish_run")

    # the version diff in plain type words
    with compile_to(tmp_path, V2, "v2").open("rb") as handle:
        response = requests.post(
            lab.api("project", "pipelines/upload_version"),
            params={"name": f"{name}-v2", "pipelineid": pipeline["pipeline_id"]},
            files={"uploadfile": ("v2.yaml", handle, "application/yaml")},
            headers=lab.headers,
            timeout=60,
        )
    assert response.status_code == 200, response.text
    search(page, name)
    pipeline_row(page, name).locator('[data-action="diff"]').click()
    diff = page.locator(f'.jp-DSP-diffView[data-pipeline-id="{pipeline["pipeline_id"]}"]')
    diff.locator(".jp-DSP-diffParams").wait_for(timeout=30_000)
    table = diff.locator(".jp-DSP-diffParams").inner_text()
    assert "float = 0.1" in table and "float = 0.2" in table, table
    assert "int = 3" in table and "str = " in table, table
    assert "NUMBER_" not in table and "STRING" not in table
    shot(page, "polish_diff")
