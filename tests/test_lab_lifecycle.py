"""Browser tests of the pipeline lifecycle in the JupyterLab panel (issue 13): a schedule made
from the run dialog fires runs and stops when disabled; the runs list filters by experiment,
hides archived runs behind a switch and archives/deletes in bulk (confirmed); "Run again"
opens the dialog filled from a run; the diff view of two versions. Uses the lab launcher and
fixtures of lab_harness.py against the embedded stack."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import lab_harness as harness
import pytest
import requests
from lab_harness import PIPELINES, Lab, open_panel, pipeline_row, search, shot, unique

browser = harness.browser
lab = harness.lab
page = harness.page

pytestmark = pytest.mark.browser

ADD = PIPELINES / "critical" / "add_numbers.yaml"


def post(lab: Lab, space: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = requests.post(lab.api(space, path), json=body, headers=lab.headers, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def latest_version(lab: Lab, pipeline_id: str) -> str:
    versions = lab.get(
        lab.api("project", f"pipelines/{pipeline_id}/versions"), sort_by="created_at desc"
    ).json()
    return versions["pipeline_versions"][0]["pipeline_version_id"]


def make_run(lab: Lab, pipeline_id: str, experiment: str, params: dict[str, Any]) -> dict:
    ns = lab.info()["namespace"]
    exp = post(lab, "project", "experiments", {"display_name": experiment, "namespace": ns})
    return post(
        lab,
        "project",
        "runs",
        {
            "display_name": f"{experiment}-run",
            "experiment_id": exp["experiment_id"],
            "pipeline_version_reference": {
                "pipeline_id": pipeline_id,
                "pipeline_version_id": latest_version(lab, pipeline_id),
            },
            "runtime_config": {"parameters": params},
        },
    )


def runs_tab(page: Any, tab: str) -> None:
    page.locator(f'.jp-DSP-runsSection .jp-DSP-tab[data-tab="{tab}"]').click()


def test_schedule_from_the_run_dialog_fires_and_stops_when_disabled(lab: Lab, page: Any) -> None:
    name = unique("lab-sched")
    lab.upload("project", ADD, name)
    open_panel(page, lab)
    search(page, name)
    pipeline_row(page, name).locator('[data-action="run"]').click()
    dialog = page.locator(".jp-Dialog")
    dialog.locator('input[name="a"]').wait_for(timeout=20_000)
    dialog.locator('input[name="a"]').fill("1")
    dialog.locator('input[name="b"]').fill("2")
    dialog.locator('input[name="__name__"]').fill(name)
    dialog.locator('input[name="__experiment__"]').fill(f"{name}-exp")
    dialog.locator('input[name="__when__"][value="schedule"]').check()
    # a bad interval is refused in the form, the dialog stays open
    dialog.locator('input[name="__every__"]').fill("0")
    dialog.locator("button.jp-mod-accept").click()
    page.locator(".jp-Dialog .jp-DSP-field-error", has_text="whole number").wait_for(timeout=10_000)
    dialog.locator('input[name="__every__"]').fill("4")
    dialog.locator('select[name="__unit__"]').select_option("seconds")
    shot(page, "lifecycle_schedule_dialog")
    dialog.locator("button.jp-mod-accept").click()
    page.locator(".jp-Dialog").wait_for(state="detached", timeout=20_000)

    runs_tab(page, "schedules")
    row = page.locator(".jp-DSP-schedule", has_text=name)
    row.wait_for(timeout=20_000)
    assert row.get_attribute("data-status") == "ENABLED"
    assert "every 4 seconds" in row.inner_text()
    assert "next run" in row.locator('[data-field="next"]').inner_text()
    schedule_id = row.get_attribute("data-schedule-id")
    row.locator(".jp-DSP-row").first.click()  # open it: the runs it made
    row.locator(".jp-DSP-scheduleRuns .jp-DSP-run").first.wait_for(timeout=60_000)
    made = lab.get(lab.api("project", f"recurringruns/{schedule_id}")).json()
    assert made["runtime_config"]["parameters"] == {"a": 1, "b": 2}
    exp = lab.get(lab.api("project", f"experiments/{made['experiment_id']}")).json()
    assert exp["display_name"] == f"{name}-exp"  # created by the dialog
    shot(page, "lifecycle_schedules")

    row.locator('[data-action="disable"]').click()
    page.locator(
        f'.jp-DSP-schedule[data-schedule-id="{schedule_id}"][data-status="DISABLED"]'
    ).wait_for(timeout=20_000)
    assert "paused" in row.locator('[data-field="next"]').inner_text()
    filt = json.dumps(
        {
            "predicates": [
                {"key": "recurring_run_id", "operation": "EQUALS", "string_value": schedule_id}
            ]
        }
    )
    count = lambda: lab.get(lab.api("project", "runs"), filter=filt).json().get("total_size", 0)  # noqa: E731
    before = count()
    time.sleep(9)  # two more periods: a disabled schedule makes no run
    assert count() == before
    shot(page, "lifecycle_schedule_disabled")

    # delete asks first
    row.locator('[data-action="delete"]').click()
    page.locator(".jp-Dialog button.jp-mod-accept", has_text="Delete").click()
    row.wait_for(state="detached", timeout=20_000)
    assert lab.get(lab.api("project", f"recurringruns/{schedule_id}")).status_code == 404


def test_experiment_filter_archived_switch_and_bulk_actions(lab: Lab, page: Any) -> None:
    name = unique("lab-exp")
    pipeline = lab.upload("project", ADD, name)
    run_a = make_run(lab, pipeline["pipeline_id"], f"{name}-a", {"a": 1, "b": 1})
    run_b = make_run(lab, pipeline["pipeline_id"], f"{name}-b", {"a": 2, "b": 2})
    open_panel(page, lab)
    runs = page.locator(".jp-DSP-runsSection")
    for run in (run_a, run_b):
        runs.locator(f'.jp-DSP-run[data-run-id="{run["run_id"]}"]').wait_for(timeout=20_000)

    # filter by experiment: only A's run stays
    runs.locator(".jp-DSP-experimentFilter").select_option(label=f"{name}-a")
    runs.locator(f'.jp-DSP-run[data-run-id="{run_b["run_id"]}"]').wait_for(
        state="detached", timeout=20_000
    )
    assert runs.locator(".jp-DSP-run").count() == 1
    shot(page, "lifecycle_experiment_filter")

    # archive A's run in bulk (confirmed): hidden, then shown again with the switch
    row_a = runs.locator(f'.jp-DSP-run[data-run-id="{run_a["run_id"]}"]')
    row_a.locator('input[type="checkbox"]').check()
    runs.locator('[data-action="bulk-archive"]').click()
    page.locator(".jp-Dialog button.jp-mod-accept", has_text="Archive").click()
    row_a.wait_for(state="detached", timeout=20_000)
    runs.locator('input[name="show-archived"]').check()
    archived_row = runs.locator(
        f'.jp-DSP-run[data-run-id="{run_a["run_id"]}"][data-archived="true"]'
    )
    archived_row.wait_for(timeout=20_000)
    assert "archived" in archived_row.inner_text()
    shot(page, "lifecycle_archived_shown")

    # delete it (confirmed): gone from the stack
    archived_row.locator('input[type="checkbox"]').check()
    runs.locator('[data-action="bulk-delete"]').click()
    page.locator(".jp-Dialog button.jp-mod-accept", has_text="Delete").click()
    archived_row.wait_for(state="detached", timeout=20_000)
    assert lab.get(lab.api("project", f"runs/{run_a['run_id']}")).status_code == 404
    assert lab.get(lab.api("project", f"runs/{run_b['run_id']}")).status_code == 200

    # archive B's experiment (asked first), then restore it
    runs.locator(".jp-DSP-experimentFilter").select_option(label=f"{name}-b")
    runs.locator('[data-action="archive-experiment"]').click()
    page.locator(".jp-Dialog button.jp-mod-accept", has_text="Archive").click()
    runs.locator('[data-action="restore-experiment"]').wait_for(timeout=20_000)
    experiment = lab.get(lab.api("project", f"experiments/{run_b['experiment_id']}")).json()
    assert experiment["storage_state"] == "ARCHIVED"
    assert "(archived)" in runs.locator(".jp-DSP-experimentFilter").inner_text()
    shot(page, "lifecycle_experiment_archived")
    runs.locator('[data-action="restore-experiment"]').click()
    runs.locator('[data-action="archive-experiment"]').wait_for(timeout=20_000)
    experiment = lab.get(lab.api("project", f"experiments/{run_b['experiment_id']}")).json()
    assert experiment["storage_state"] == "AVAILABLE"


def test_run_again_opens_the_dialog_filled_from_the_run(lab: Lab, page: Any) -> None:
    name = unique("lab-again")
    pipeline = lab.upload("project", ADD, name)
    run = make_run(lab, pipeline["pipeline_id"], f"{name}-exp", {"a": 5, "b": 7})
    open_panel(page, lab)
    page.locator(f'.jp-DSP-run[data-run-id="{run["run_id"]}"]').click()
    view = page.locator(f'.jp-DSP-runView[data-run-id="{run["run_id"]}"]')
    view.wait_for(timeout=30_000)
    view.locator('[data-action="run-again"]').click()
    dialog = page.locator(".jp-Dialog")
    dialog.locator('input[name="a"]').wait_for(timeout=20_000)
    assert dialog.locator('input[name="a"]').input_value() == "5"
    assert dialog.locator('input[name="b"]').input_value() == "7"
    assert dialog.locator('input[name="__experiment__"]').input_value() == f"{name}-exp"
    assert dialog.locator('input[name="__name__"]').input_value().startswith("Rerun of")
    dialog.locator('input[name="b"]').fill("8")
    shot(page, "lifecycle_run_again_dialog")
    dialog.locator("button.jp-mod-accept").click()

    again = page.locator(f'.jp-DSP-runView[data-run-id]:not([data-run-id="{run["run_id"]}"])')
    again.wait_for(timeout=30_000)
    new = lab.get(lab.api("project", f"runs/{again.get_attribute('data-run-id')}")).json()
    assert new["runtime_config"]["parameters"] == {"a": 5, "b": 8}
    assert new["pipeline_version_reference"] == run["pipeline_version_reference"]
    assert new["experiment_id"] == run["experiment_id"]


V1 = """
from kfp import dsl

@dsl.component(base_image="python:3.11")
def add(a: int, b: int) -> int:
    return a + b

@dsl.pipeline(name="diffed")
def diffed(a: int, b: int = 1, label: str = "x") -> int:
    return add(a=a, b=b).output
"""

V2 = """
from kfp import dsl

@dsl.component(base_image="python:3.11")
def add(a: int, b: int) -> int:
    return a + b + 100

@dsl.component(base_image="python:3.12")
def report(total: int) -> str:
    return f"total {total}"

@dsl.pipeline(name="diffed")
def diffed(a: int, b: int = 2, extra: float = 0.5) -> int:
    total = add(a=a, b=b)
    report(total=total.output)
    return total.output
"""


def compile_to(tmp: Path, source: str, stem: str) -> Path:
    from jupyter_dsp.client import compile_source

    py = tmp / f"{stem}.py"
    py.write_text(source)
    out = tmp / f"{stem}.yaml"
    compile_source(str(py), str(out))
    return out


def test_diff_view_of_two_versions(lab: Lab, page: Any, tmp_path: Path) -> None:
    name = unique("lab-diff")
    pipeline = lab.upload("project", compile_to(tmp_path, V1, "v1"), name)
    with compile_to(tmp_path, V2, "v2").open("rb") as handle:
        response = requests.post(
            lab.api("project", "pipelines/upload_version"),
            params={"name": f"{name}-v2", "pipelineid": pipeline["pipeline_id"]},
            files={"uploadfile": ("v2.yaml", handle, "application/yaml")},
            headers=lab.headers,
            timeout=60,
        )
    assert response.status_code == 200, response.text

    open_panel(page, lab)
    search(page, name)
    pipeline_row(page, name).locator('[data-action="diff"]').click()
    view = page.locator(f'.jp-DSP-diffView[data-pipeline-id="{pipeline["pipeline_id"]}"]')
    view.locator(".jp-DSP-diffBody").wait_for(timeout=30_000)
    params = {
        row.get_attribute("data-param"): row.get_attribute("data-change")
        for row in view.locator(".jp-DSP-diffParams tr[data-param]").all()
    }
    assert params == {"b": "changed", "extra": "added", "label": "removed"}
    assert "= 1" in view.locator('tr[data-param="b"]').inner_text()
    assert "= 2" in view.locator('tr[data-param="b"]').inner_text()
    # the server's diff (dsp/diff, as %dsp diff): an added component, changed code
    components = view.locator(".jp-DSP-diffSteps")
    added = components.locator('li[data-component="comp-report"]')
    assert added.get_attribute("data-change") == "added"
    assert "python:3.12" in added.inner_text()
    changed = components.locator('li[data-component="comp-add"]')
    assert changed.get_attribute("data-change") == "changed"
    assert "code" in changed.inner_text()
    added_lines = changed.locator(".jp-DSP-diffLine-added").all_inner_texts()
    assert any("return a + b + 100" in line for line in added_lines), added_lines
    # the two graphs side by side, changed nodes marked
    after = view.locator('.jp-DSP-diffDag[data-side="after"]')
    assert after.locator('[data-task="report"]').get_attribute("data-change") == "added"
    assert after.locator('[data-task="add"]').get_attribute("data-change") == "changed"
    before = view.locator('.jp-DSP-diffDag[data-side="before"]')
    assert before.locator('[data-task="add"]').get_attribute("data-change") == "changed"
    assert before.locator('[data-task="report"]').count() == 0
    shot(page, "lifecycle_diff")


@pytest.fixture(scope="module")
def cluster_lab(tmp_path_factory: pytest.TempPathFactory):
    """A lab in a simulated cluster workbench: a service-account dir, a fake Kubernetes API
    with the namespace's DSPA, and a separate loopback stack playing the cluster's."""
    from fake_kube_api import FakeKubeServer, make_dspa
    from fixtures_cluster import ServiceAccountDir

    from jupyter_dsp.stack import start_stack

    base = tmp_path_factory.mktemp("cluster-lab")
    stack = start_stack(base / "cluster-stack", default_namespace="team-a")
    sa = ServiceAccountDir(base / "serviceaccount", "team-a")
    sa.rotate(stack.create_token("sa", {"team-a": "edit"}, "view"))
    kube_server = FakeKubeServer(lambda token: token == sa.token)
    kube = kube_server.start()
    kube.dspas["team-a"] = [make_dspa("dspa", "team-a", url=stack.url)]
    env = {
        "JUPYTER_DSP_SA_DIR": str(sa.root),
        "JUPYTER_DSP_KUBE_API_URL": kube.url,
        "JUPYTER_DSP_RUNTIMES_DIR": str(base / "no-runtimes"),
        "JUPYTER_DSP_KUBEFLOW_TOKEN_PATH": str(base / "no-kubeflow-token"),
    }
    handle = harness.start_lab(base / "lab", extra_env=env)
    try:
        yield handle, stack
    finally:
        harness.stop_lab(handle)
        kube_server.stop()
        stack.stop()


def test_run_locally_from_a_cluster_workbench(cluster_lab: Any, browser: Any) -> None:
    lab_, stack = cluster_lab
    assert lab_.info()["mode"] == "cluster-dspa"
    name = unique("lab-local")
    lab_.upload("project", ADD, name)  # the pipeline lives on the cluster
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    try:
        open_panel(pg, lab_)
        search(pg, name)
        pipeline_row(pg, name).locator('[data-action="run"]').click()
        dialog = pg.locator(".jp-Dialog")
        dialog.locator('input[name="a"]').wait_for(timeout=20_000)
        dialog.locator('input[name="a"]').fill("20")
        dialog.locator('input[name="b"]').fill("22")
        shot(pg, "lifecycle_run_locally_dialog")
        # a schedule cannot run locally: said, then back to the form with the values kept
        dialog.locator('input[name="__when__"][value="schedule"]').check()
        dialog.locator("button.jp-DSP-runLocal").click()
        refusal = pg.locator(".jp-Dialog", has_text="Schedules run on the cluster")
        refusal.wait_for(timeout=20_000)
        refusal.locator("button", has_text="Close").click()
        dialog.locator('input[name="__when__"][value="now"]').wait_for(timeout=20_000)
        assert dialog.locator('input[name="a"]').input_value() == "20"
        dialog.locator('input[name="__when__"][value="now"]').check()
        dialog.locator("button.jp-DSP-runLocal").click()

        view = pg.locator(".jp-DSP-runView[data-run-id]")
        view.wait_for(timeout=60_000)
        assert view.locator(".jp-DSP-localBadge").count() == 1
        run_id = view.get_attribute("data-run-id")
        pg.locator(
            '.jp-DSP-runView[data-state="SUCCEEDED"], .jp-DSP-runView[data-state="FAILED"]'
        ).wait_for(timeout=240_000)
        shot(pg, "lifecycle_local_run_view")
        local = lab_.get(lab_.api("local", f"runs/{run_id}")).json()
        assert local["state"] == "SUCCEEDED", local.get("error")
        assert local["runtime_config"]["parameters"] == {"a": 20, "b": 22}
        # the cluster's stack got no run (its own API, its own token)
        cluster_runs = requests.get(
            f"{stack.url}/apis/v2beta1/runs",
            params={"namespace": "team-a"},
            headers={"Authorization": f"Bearer {stack.token}"},
            timeout=30,
        ).json()
        assert not cluster_runs.get("runs")
        # the panel shows it apart: in the Local tab, not in the project's runs
        runs_tab(pg, "local")
        pg.locator(
            f'.jp-DSP-runs[data-space="local"] .jp-DSP-run[data-run-id="{run_id}"]'
        ).wait_for(timeout=20_000)
        shot(pg, "lifecycle_local_runs")
        runs_tab(pg, "runs")
        pg.locator('.jp-DSP-runs[data-space="project"] .jp-DSP-empty').wait_for(timeout=20_000)
    finally:
        context.close()
