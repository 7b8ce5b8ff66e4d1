"""Issue 14 in the panel, on a simulated Open Data Hub cluster: the fake Kubernetes API lists the
project's DataSciencePipelinesApplication (its API server: a single-user loopback stack holding a
pipeline uploaded with the operator's managed tags), the Elyra runtime file names the dashboard
(public_api_endpoint), and a second loopback stack is the shared catalog (shared_endpoint).

The Shared tab lists the catalog's pipelines and the platform's managed ones, each marked with
where it lives; managed ones offer no delete; both fork into the project. A managed pipeline, a
version and a run (run view header and runs list) link to the ODH dashboard's pages in a new tab.
Real `jupyter lab`, real stacks, Debian's Chromium through Playwright."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from fake_kube_api import FakeKubeServer, make_dspa
from fixtures_cluster import ServiceAccountDir
from lab_harness import (
    CHROMIUM,
    CHROMIUM_ARGS,
    Lab,
    open_panel,
    pipeline_row,
    shot,
    start_lab,
    stop_lab,
)
from stack_http import call, upload

from jupyter_dsp.stack import start_stack

pytestmark = pytest.mark.browser

DASHBOARD = "https://rh-ai.apps.example.com"
NS = "team-a"
OPERATOR_TAGS = json.dumps({"managed": "true", "rhoai-version": "3.5.0"})


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("lab-cluster")
    project = start_stack(base / "project-stack", single_user=True)
    catalog = start_stack(base / "catalog-stack", single_user=True)
    sa = ServiceAccountDir(base / "serviceaccount", NS, token=project.token)
    server = FakeKubeServer(lambda token: token == sa.token)
    kube = server.start()
    kube.dspas[NS] = [make_dspa("dspa", NS, url=project.url)]
    runtimes = base / "runtimes"
    runtimes.mkdir()
    (runtimes / "pipeline-server.json").write_text(
        json.dumps(
            {
                "display_name": "Pipeline server",
                "schema_name": "kfp",
                "metadata": {
                    "api_endpoint": project.url,
                    "public_api_endpoint": f"{DASHBOARD}/experiments/{NS}/",
                },
            }
        )
    )
    (base / "catalog-token").write_text(catalog.token)
    # what the operator's init container does: upload with the managed tags
    managed = upload(project, "platform-pipeline", tags=OPERATOR_TAGS).json()
    own = upload(project, "my-own").json()
    shared = upload(catalog, "catalog-pipeline").json()
    # a run in the project (its experiment gives the dashboard's run page)
    exp = call(project, "POST", "/experiments", json={"display_name": "links-exp"}).json()
    version = call(project, "GET", f"/pipelines/{own['pipeline_id']}/versions").json()
    run = call(
        project,
        "POST",
        "/runs",
        json={
            "display_name": "links-run",
            "experiment_id": exp["experiment_id"],
            "pipeline_version_reference": {
                "pipeline_id": own["pipeline_id"],
                "pipeline_version_id": version["pipeline_versions"][0]["pipeline_version_id"],
            },
        },
    ).json()
    env = {
        "JUPYTER_DSP_SA_DIR": str(sa.root),
        "JUPYTER_DSP_KUBE_API_URL": kube.url,
        "JUPYTER_DSP_RUNTIMES_DIR": str(runtimes),
        "JUPYTER_DSP_KUBEFLOW_TOKEN_PATH": str(base / "no-kubeflow-token"),
        "JUPYTER_DSP_SHARED_ENDPOINT": catalog.url,
        "JUPYTER_DSP_SHARED_TOKEN_FILE": str(base / "catalog-token"),
        "JUPYTER_DSP_SHARED_POLICY": "read-write",
    }
    lab = start_lab(base / "lab", env)
    try:
        yield {
            "lab": lab,
            "managed": managed,
            "own": own,
            "shared": shared,
            "run": run,
            "project": project,
        }
    finally:
        stop_lab(lab)
        server.stop()
        project.stop()
        catalog.stop()


@pytest.fixture
def page(cluster: dict[str, Any]) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        pg = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
        errors: list[str] = []
        pg.on("pageerror", lambda exc: errors.append(str(exc)))
        try:
            yield pg
        finally:
            shot(pg, "cluster_last")
            browser.close()
        assert not errors, f"uncaught errors in the page: {errors}"


def project_names(lab: Lab) -> set[str]:
    got = lab.get(lab.api("project", "pipelines"))
    assert got.status_code == 200, got.text
    return {p["display_name"] for p in got.json().get("pipelines", [])}


def fork(page: Any, row: Any, name: str) -> None:
    row.locator('[data-action="fork"]').click()
    dialog = page.locator(".jp-Dialog")
    dialog.locator('input[name="fork-name"]').fill(name)
    dialog.locator("button.jp-mod-accept").click()
    page.locator('.jp-DSP-tab.jp-mod-active[data-tab="project"]').wait_for(timeout=30_000)
    pipeline_row(page, name).wait_for(timeout=30_000)


def test_shared_tab_shows_catalog_and_managed_marked_and_both_fork(cluster, page) -> None:
    lab: Lab = cluster["lab"]
    info = lab.info()
    assert info["mode"] == "cluster-dspa" and info["spaces"]["managed"]["managed"] == "only"
    open_panel(page, lab)
    page.locator('.jp-DSP-tab[data-tab="shared"]').click()
    managed = pipeline_row(page, "platform-pipeline")
    catalog = pipeline_row(page, "catalog-pipeline")
    managed.wait_for(timeout=30_000)
    catalog.wait_for(timeout=30_000)
    assert managed.get_attribute("data-where") == "managed"
    assert catalog.get_attribute("data-where") == "catalog"
    assert managed.locator(".jp-DSP-where").inner_text() == "managed"
    assert catalog.locator(".jp-DSP-where").inner_text() == "catalog"
    assert page.locator('.jp-DSP-count[data-count="2"]').count() == 1
    # managed: read-only (no delete); the catalog (policy read-write) may be deleted
    assert managed.locator('[data-action="delete"]').count() == 0
    assert catalog.locator('[data-action="delete"]').count() == 1
    # a managed pipeline lives in the project's stack: it links to the dashboard; the catalog not
    link = managed.locator('a[data-action="open-ui"]')
    assert link.get_attribute("href") == (f"{DASHBOARD}/develop-train/pipelines/definitions/{NS}")
    assert link.get_attribute("target") == "_blank"
    assert link.get_attribute("rel") == "noopener noreferrer"
    assert catalog.locator('a[data-action="open-ui"]').count() == 0
    # its version links to the version's page
    managed.locator(".jp-DSP-row-name").click()
    version = page.locator(".jp-DSP-version[data-version-id]").first
    version.wait_for(timeout=20_000)
    version_id = version.get_attribute("data-version-id")
    pid = cluster["managed"]["pipeline_id"]
    assert version.locator('a[data-action="open-ui"]').get_attribute("href") == (
        f"{DASHBOARD}/develop-train/pipelines/definitions/{NS}/{pid}/{version_id}/view"
    )
    assert version.locator('[data-action="delete"]').count() == 0
    shot(page, "cluster_shared_tab")

    # the panel proposes <name>-fork for a managed one (its name is taken in the same stack)
    managed.locator('[data-action="fork"]').click()
    dialog = page.locator(".jp-Dialog")
    assert dialog.locator('input[name="fork-name"]').input_value() == "platform-pipeline-fork"
    dialog.locator("button.jp-mod-accept").click()
    page.locator('.jp-DSP-tab.jp-mod-active[data-tab="project"]').wait_for(timeout=30_000)
    pipeline_row(page, "platform-pipeline-fork").wait_for(timeout=30_000)
    page.locator('.jp-DSP-tab[data-tab="shared"]').click()
    fork(page, pipeline_row(page, "catalog-pipeline"), "catalog-copy")
    assert {"platform-pipeline-fork", "catalog-copy", "my-own"} <= project_names(lab)
    assert "platform-pipeline" not in project_names(lab)
    shot(page, "cluster_forked")


def test_run_links_to_the_dashboard(cluster, page) -> None:
    lab: Lab = cluster["lab"]
    run = cluster["run"]
    expected = f"{DASHBOARD}/experiments/{NS}/{run['experiment_id']}/runs/{run['run_id']}"
    open_panel(page, lab)
    row = page.locator(f'.jp-DSP-run[data-run-id="{run["run_id"]}"]')
    row.wait_for(timeout=30_000)
    link = row.locator('a[data-action="open-ui"]')
    assert link.get_attribute("href") == expected
    assert link.get_attribute("rel") == "noopener noreferrer"
    row.locator(".jp-DSP-row-name").click()
    view = page.locator(f'.jp-DSP-runView[data-run-id="{run["run_id"]}"]')
    view.wait_for(timeout=30_000)
    header = view.locator('.jp-DSP-runHeader a[data-action="open-ui"]')
    assert header.get_attribute("href") == expected
    assert header.get_attribute("target") == "_blank"
    assert header.get_attribute("rel") == "noopener noreferrer"
    shot(page, "cluster_run_view")
    # the project's own pipeline links too (it lives in the project's stack)
    page.locator('.jp-DSP-tab[data-tab="project"]').click()
    own = pipeline_row(page, "my-own")
    own.wait_for(timeout=30_000)
    assert own.locator('a[data-action="open-ui"]').get_attribute("href") == (
        f"{DASHBOARD}/develop-train/pipelines/definitions/{NS}"
    )


def test_embedded_stack_has_no_ui_links(tmp_path: Path) -> None:
    """The embedded stack has no UI: dsp/info says so and there is nothing to link."""
    lab = start_lab(tmp_path)
    try:
        assert lab.info()["ui"] is None
        response = requests.get(f"{lab.url}dsp/info", headers=lab.headers, timeout=30)
        assert "templates" not in response.text
    finally:
        stop_lab(lab)
