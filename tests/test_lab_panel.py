"""Browser tests of the JupyterLab panel: a real ``jupyter lab`` with the jupyter_dsp
server extension (which starts its embedded stack), driven in Debian's headless Chromium
through Python Playwright. Screenshots go to ``tests/artifacts/``.

The panel must already be built into the installed package (``pip install -e .``).
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Iterator
from typing import Any

import lab_harness as harness
import pytest
from lab_harness import (
    PIPELINES,
    Lab,
    free_port,
    open_panel,
    pipeline_row,
    search,
    shot,
    start_lab,
    stop_lab,
    unique,
)

pytestmark = pytest.mark.browser

browser = harness.browser
lab = harness.lab
page = harness.page


def test_header_and_pipelines_each_in_its_tab(lab: Lab, page: Any) -> None:
    shared_name = unique("lab-shared")
    project_name = unique("lab-project")
    lab.upload("shared", PIPELINES / "critical" / "mixed_parameters.yaml", shared_name)
    lab.upload("project", PIPELINES / "critical" / "add_numbers.yaml", project_name)
    info = lab.info()

    open_panel(page, lab)
    assert page.locator(".jp-DSP-namespace").inner_text() == info["namespace"]
    assert info["mode"] in page.locator(".jp-DSP-connection").inner_text()

    # Project tab (the default): the project pipeline only.
    pipeline_row(page, project_name).wait_for(timeout=20_000)
    assert pipeline_row(page, shared_name).count() == 0
    # It opens to its versions.
    pipeline_row(page, project_name).locator(".jp-DSP-row-name").click()
    page.locator(".jp-DSP-version[data-version-id]").first.wait_for(timeout=20_000)
    shot(page, "project_tab")

    # Shared tab: the shared pipeline only, with Fork offered, Delete only where the policy
    # lets this user write the shared space.
    page.locator('.jp-DSP-tab[data-tab="shared"]').click()
    pipeline_row(page, shared_name).wait_for(timeout=20_000)
    assert pipeline_row(page, project_name).count() == 0
    row = pipeline_row(page, shared_name)
    assert row.locator('[data-action="fork"]').count() == 1
    shared_writable = info["policy"] == "read-write" and bool(info["spaces"]["shared"]["writable"])
    assert row.locator('[data-action="delete"]').count() == (1 if shared_writable else 0)

    # Search is a server-side filter: a name that matches nothing empties the list.
    page.locator(".jp-DSP-search").fill(f"no-such-{uuid.uuid4().hex}")
    page.locator(".jp-DSP-browser .jp-DSP-empty").wait_for(timeout=10_000)
    assert pipeline_row(page, shared_name).count() == 0
    search(page, shared_name)
    shot(page, "shared_tab")


def test_upload_as_shared_from_the_file_browser(lab: Lab, page: Any) -> None:
    name = unique("lab-uploaded")
    file_name = f"{name}.yaml"
    shutil.copy(PIPELINES / "critical" / "parameter_cache.yaml", lab.root_dir / file_name)

    open_panel(page, lab)
    page.locator('li.lm-TabBar-tab[data-id="filebrowser"]').click()
    item = page.locator(".jp-DirListing-item", has_text=file_name)
    item.wait_for(timeout=20_000)
    item.click(button="right")
    page.locator(".lm-Menu-item", has_text="Upload as Pipeline").click()

    dialog = page.locator(".jp-Dialog")
    dialog.wait_for(timeout=10_000)
    assert dialog.locator(".jp-DSP-file-name").inner_text() == file_name
    assert dialog.locator('input[name="name"]').input_value() == name
    dialog.locator('textarea[name="description"]').fill("uploaded by the browser test")
    share = dialog.locator('input[name="share"]')
    share.check()
    shot(page, "upload_dialog")
    dialog.locator("button.jp-mod-accept").click()

    # After the upload the panel shows the Shared tab, where the new pipeline is listed.
    page.locator('.jp-DSP-tab.jp-mod-active[data-tab="shared"]').wait_for(timeout=30_000)
    assert page.locator(".jp-Dialog").count() == 0
    search(page, name)
    shot(page, "uploaded_shared")

    found = lab.find_pipeline("shared", name)
    assert len(found) == 1 and found[0].get("description") == "uploaded by the browser test"
    assert lab.find_pipeline("project", name) == []


def test_fork_a_shared_pipeline_then_delete_the_fork(lab: Lab, page: Any) -> None:
    shared_name = unique("lab-to-fork")
    fork_name = unique("lab-forked")
    lab.upload("shared", PIPELINES / "critical" / "mixed_parameters.yaml", shared_name)

    open_panel(page, lab)
    page.locator('.jp-DSP-tab[data-tab="shared"]').click()
    search(page, shared_name)
    pipeline_row(page, shared_name).locator('[data-action="fork"]').click()
    dialog = page.locator(".jp-Dialog")
    dialog.locator('input[name="fork-name"]').fill(fork_name)
    dialog.locator("button.jp-mod-accept").click()

    # The fork is a private pipeline of the project, with the shared version's spec.
    page.locator('.jp-DSP-tab.jp-mod-active[data-tab="project"]').wait_for(timeout=30_000)
    search(page, fork_name)
    shot(page, "forked")
    forked = lab.find_pipeline("project", fork_name)
    assert len(forked) == 1 and forked[0].get("namespace") == lab.info()["namespace"]
    assert lab.find_pipeline("shared", fork_name) == []
    shared_id = lab.find_pipeline("shared", shared_name)[0]["pipeline_id"]
    specs = []
    for space, pid in (("shared", shared_id), ("project", forked[0]["pipeline_id"])):
        # a version list carries specs only when asked (the proxy leaves them out)
        url = lab.api(space, f"pipelines/{pid}/versions")
        versions = lab.get(url, include_specs="true").json()
        specs.append(versions["pipeline_versions"][0]["pipeline_spec"])
    assert specs[0]["root"] == specs[1]["root"]

    # Delete asks first; cancelling keeps it, confirming removes it.
    pipeline_row(page, fork_name).locator('[data-action="delete"]').click()
    page.locator(".jp-Dialog button.jp-mod-reject").click()
    page.locator(".jp-Dialog").wait_for(state="detached", timeout=10_000)
    assert len(lab.find_pipeline("project", fork_name)) == 1
    pipeline_row(page, fork_name).locator('[data-action="delete"]').click()
    assert "cannot be undone" in page.locator(".jp-Dialog").inner_text()
    page.locator(".jp-Dialog button.jp-mod-accept").click()
    pipeline_row(page, fork_name).wait_for(state="detached", timeout=20_000)
    assert lab.find_pipeline("project", fork_name) == []
    assert len(lab.find_pipeline("shared", shared_name)) == 1


@pytest.fixture(scope="module")
def readonly_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    handle = start_lab(
        tmp_path_factory.mktemp("lab-ro"), {"JUPYTER_DSP_SHARED_POLICY": "read-only"}
    )
    try:
        yield handle
    finally:
        stop_lab(handle)


def test_read_only_shared_space_offers_no_writes(readonly_lab: Lab, page: Any) -> None:
    lab = readonly_lab
    assert lab.info()["policy"] == "read-only"
    open_panel(page, lab)
    tab = page.locator('.jp-DSP-tab[data-tab="shared"]')
    assert "read-only" in tab.inner_text()
    tab.click()
    page.locator(".jp-DSP-banner", has_text="read-only").wait_for(timeout=10_000)
    # nothing is shared on this stack
    page.locator(".jp-DSP-browser .jp-DSP-empty").wait_for(timeout=10_000)

    # The upload dialog has no "Share with all projects" here.
    page.locator('.jp-DSP-header [data-action="upload"]').click()
    dialog = page.locator(".jp-Dialog")
    dialog.locator('input[name="uploadfile"]').wait_for(timeout=10_000)
    assert dialog.locator('input[name="share"]').count() == 0
    # Uploading with no file chosen is refused in the dialog, with the reason.
    dialog.locator('input[name="name"]').fill("nothing")
    dialog.locator("button.jp-mod-accept").click()
    page.locator(".jp-Dialog .jp-DSP-error", has_text="Choose a pipeline file").wait_for(
        timeout=10_000
    )
    shot(page, "readonly_upload_dialog")
    page.locator(".jp-Dialog input[name='uploadfile']").set_input_files(
        str(PIPELINES / "critical" / "add_numbers.yaml")
    )
    page.locator(".jp-Dialog button.jp-mod-accept").click()
    page.locator('.jp-DSP-tab.jp-mod-active[data-tab="project"]').wait_for(timeout=20_000)
    pipeline_row(page, "nothing").wait_for(timeout=20_000)
    assert len(lab.find_pipeline("project", "nothing")) == 1


def test_upload_a_new_version_from_the_panel_button(lab: Lab, page: Any) -> None:
    name = unique("lab-versioned")
    lab.upload("project", PIPELINES / "critical" / "add_numbers.yaml", name)
    version_name = unique("v2")

    open_panel(page, lab)
    page.locator('.jp-DSP-header [data-action="upload"]').click()
    dialog = page.locator(".jp-Dialog")
    dialog.locator('input[name="uploadfile"]').set_input_files(
        str(PIPELINES / "critical" / "parameter_cache.yaml")
    )
    dialog.locator('input[name="mode"][value="version"]').check()
    # The pipeline picker filters on the server; pick ours.
    dialog.locator('input[name="pipeline-filter"]').fill(name)
    option = dialog.locator('select[name="pipeline"] option', has_text=name)
    option.wait_for(state="attached", timeout=10_000)
    assert dialog.locator('select[name="pipeline"] option').count() == 1
    dialog.locator('select[name="pipeline"]').select_option(label=name)
    # The dialog proposes a version name the pipeline does not have yet (it has one version);
    # wait for it, so that typing over it is not raced by the proposal arriving.
    name_input = dialog.locator('input[name="name"]')
    deadline = time.monotonic() + 10
    while name_input.input_value() != f"{name}-v2" and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert name_input.input_value() == f"{name}-v2"
    name_input.fill(version_name)
    shot(page, "upload_version_dialog")
    dialog.locator("button.jp-mod-accept").click()

    # The panel lists it under the pipeline, newest first.
    search(page, name)
    pipeline_row(page, name).locator(".jp-DSP-row-name").click()
    page.locator(".jp-DSP-version", has_text=version_name).wait_for(timeout=20_000)
    assert page.locator(".jp-DSP-version[data-version-id]").count() == 2
    pid = lab.find_pipeline("project", name)[0]["pipeline_id"]
    versions = lab.get(lab.api("project", f"pipelines/{pid}/versions")).json()
    assert {v["name"] for v in versions["pipeline_versions"]} >= {version_name}
    assert versions["total_size"] == 2


@pytest.fixture(scope="module")
def broken_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    base = tmp_path_factory.mktemp("lab-broken")
    token_file = base / "token"
    token_file.write_text("not-a-real-token")
    env = {
        "JUPYTER_DSP_ENDPOINT": f"http://127.0.0.1:{free_port()}",  # nothing listens there
        "JUPYTER_DSP_TOKEN_FILE": str(token_file),
        "JUPYTER_DSP_NAMESPACE": "team-x",
    }
    handle = start_lab(base, env, healthy=False)
    try:
        yield handle
    finally:
        stop_lab(handle)


def test_unreachable_stack_shows_the_error_and_its_hint(broken_lab: Lab, page: Any) -> None:
    info = broken_lab.info()
    assert info["healthy"] is False and info["error"]
    open_panel(page, broken_lab)
    assert page.locator(".jp-DSP-namespace").inner_text() == "team-x"
    assert page.locator(".jp-DSP-connection").get_attribute("data-healthy") == "false"
    header_error = page.locator(".jp-DSP-header .jp-DSP-error")
    header_error.wait_for(timeout=10_000)
    assert info["error"] in header_error.locator(".jp-DSP-error-message").inner_text()
    if info.get("hint"):
        assert info["hint"] in header_error.locator(".jp-DSP-error-hint").inner_text()
    # The lists say what went wrong where they are, instead of looking empty.
    page.locator(".jp-DSP-browser .jp-DSP-error").wait_for(timeout=30_000)
    page.locator(".jp-DSP-runs .jp-DSP-error").wait_for(timeout=30_000)
    assert page.locator(".jp-DSP-browser .jp-DSP-empty").count() == 0
    shot(page, "unreachable_stack")
