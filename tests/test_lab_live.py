"""Browser tests of the live panel (issue 22): what another client does (here: requests to the
stack's API through the Jupyter server, as a kernel's ``%dsp`` does) shows in the open panel
within 3 s without a click; a hidden panel or page makes no request at all (counted in the
browser and in the Jupyter server's own request log); the upload dialog proposes what works;
Terminate is gone from a finished run; catch-up defaults on. Uses the lab launcher and the
browser fixtures of lab_harness.py, with the server logging every request (DEBUG)."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lab_harness as harness
import pytest
import requests
from lab_harness import (
    PIPELINES,
    Lab,
    open_panel,
    pipeline_row,
    shot,
    start_lab,
    stop_lab,
    unique,
)

browser = harness.browser
page = harness.page

pytestmark = pytest.mark.browser

LIVE_MS = 3000  # the bar: a change shows within 3 s, without a click
ADD = PIPELINES / "critical" / "add_numbers.yaml"
NAP = PIPELINES / "take_nap_compiled.yaml"
DSP_REQUEST = re.compile(r"\] \d{3} (GET|POST|PATCH|DELETE) /dsp/")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    base = tmp_path_factory.mktemp("live-lab")
    (base / "config").mkdir(parents=True, exist_ok=True)
    # every request in the server's log (successes are logged at DEBUG)
    (base / "config" / "jupyter_server_config.json").write_text(
        json.dumps({"ServerApp": {"log_level": "DEBUG"}})
    )
    handle = start_lab(base)
    try:
        yield handle
    finally:
        stop_lab(handle)


def server_dsp_requests(lab: Lab) -> list[str]:
    """The ``dsp/`` requests the Jupyter server has answered so far (its access log)."""
    return [
        line
        for line in lab.log_path.read_text(errors="replace").splitlines()
        if DSP_REQUEST.search(line)
    ]


def upload_version(lab: Lab, pipeline_id: str, path: Path, name: str) -> dict[str, Any]:
    with path.open("rb") as handle:
        response = requests.post(
            lab.api("project", "pipelines/upload_version"),
            params={"pipelineid": pipeline_id, "name": name, "display_name": name},
            files={"uploadfile": (path.name, handle, "application/yaml")},
            headers=lab.headers,
            timeout=60,
        )
    assert response.status_code == 200, response.text
    return response.json()


def start_run(lab: Lab, pipeline_id: str, name: str) -> dict[str, Any]:
    """A run with every default parameter, started as a kernel would (the stack's API)."""
    versions = lab.get(lab.api("project", f"pipelines/{pipeline_id}/versions")).json()
    body = {
        "display_name": name,
        "pipeline_version_reference": {
            "pipeline_id": pipeline_id,
            "pipeline_version_id": versions["pipeline_versions"][0]["pipeline_version_id"],
        },
        "runtime_config": {},
    }
    response = requests.post(lab.api("project", "runs"), json=body, headers=lab.headers, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def terminate(lab: Lab, run_id: str) -> None:
    response = requests.post(
        lab.api("project", f"runs/{run_id}:terminate"), json={}, headers=lab.headers, timeout=30
    )
    assert response.status_code == 200, response.text


class DspRequests(list):  # type: ignore[type-arg]
    """Every request the page makes to the server extension from now on, and those still open
    (a long poll the page holds counts until it is answered or aborted)."""

    def __init__(self, pg: Any) -> None:
        super().__init__()
        self.open: set[Any] = set()
        pg.on("request", self._start)
        pg.on("requestfinished", lambda req: self.open.discard(req))
        pg.on("requestfailed", lambda req: self.open.discard(req))

    def _start(self, req: Any) -> None:
        if "/dsp/" in req.url:
            self.append(req.url)
            self.open.add(req)


def test_changes_made_elsewhere_show_without_a_click(lab: Lab, page: Any) -> None:
    open_panel(page, lab)
    page.locator(
        ".jp-DSP-runsSection .jp-DSP-runList, .jp-DSP-runsSection .jp-DSP-empty"
    ).first.wait_for(timeout=30_000)
    page.wait_for_timeout(1000)  # the panel settled, its long poll waiting

    # a pipeline uploaded elsewhere
    name = unique("a-live")
    pipeline = lab.upload("project", NAP, name)
    pipeline_row(page, name).wait_for(timeout=LIVE_MS)

    # a new version of an opened pipeline
    pipeline_row(page, name).locator(".jp-DSP-row-name").click()
    page.locator(".jp-DSP-version[data-version-id]").first.wait_for(timeout=20_000)
    page.wait_for_timeout(1000)
    version = upload_version(lab, pipeline["pipeline_id"], NAP, f"{name}-again")
    page.locator(f'.jp-DSP-version[data-version-id="{version["pipeline_version_id"]}"]').wait_for(
        timeout=LIVE_MS
    )

    # a run started elsewhere (all defaults)
    run = start_run(lab, pipeline["pipeline_id"], f"{name}-run")
    row = page.locator(f'.jp-DSP-run[data-run-id="{run["run_id"]}"]')
    row.wait_for(timeout=LIVE_MS)
    shot(page, "live_run_appeared")

    # its open view follows its state, and shows the defaults it runs with
    row.locator(".jp-DSP-row-name").click()
    view = page.locator(f'.jp-DSP-runView[data-run-id="{run["run_id"]}"]')
    page.locator(f'.jp-DSP-runView[data-run-id="{run["run_id"]}"][data-state="RUNNING"]').wait_for(
        timeout=120_000
    )
    param = view.locator('.jp-DSP-params tr[data-name="naptime_secs"]')
    param.wait_for(timeout=20_000)
    assert param.get_attribute("data-default") == "true"
    assert "900" in param.inner_text() and "No parameters" not in view.inner_text()
    assert view.locator('[data-action="terminate"]').count() == 1
    terminate(lab, run["run_id"])  # elsewhere: the view is not clicked
    page.locator(f'.jp-DSP-runView[data-run-id="{run["run_id"]}"][data-state="CANCELED"]').wait_for(
        timeout=LIVE_MS
    )
    page.locator(f'.jp-DSP-run[data-run-id="{run["run_id"]}"][data-state="CANCELED"]').wait_for(
        timeout=LIVE_MS
    )
    # a finished run offers no (red) Terminate button, in the view or the list
    assert view.locator('[data-action="terminate"]').count() == 0
    assert row.locator('[data-action="terminate"]').count() == 0
    shot(page, "live_run_canceled")


def _assert_quiet(lab: Lab, pg: Any, seen: DspRequests, seconds: float) -> None:
    # (the page's waits, not time.sleep: Playwright hands its events over while it waits)
    pg.wait_for_timeout(1000)  # the aborted long poll reaches the server log
    assert not seen.open, [r.url for r in seen.open]  # the held long poll was given up
    before_browser, before_server = len(seen), len(server_dsp_requests(lab))
    pg.wait_for_timeout(seconds * 1000)
    assert seen[before_browser:] == [], seen[before_browser:]
    assert server_dsp_requests(lab)[before_server:] == []
    assert not seen.open


def test_hidden_panel_or_page_makes_no_request(lab: Lab, page: Any) -> None:
    seen = DspRequests(page)
    open_panel(page, lab)
    deadline = time.monotonic() + 20
    while not any("/dsp/changes" in url for url in seen):
        assert time.monotonic() < deadline, "the panel never asked for changes"
        page.wait_for_timeout(200)
    # the first long poll (no tokens yet) is answered at once: the server logged it
    while not any("/dsp/changes" in line for line in server_dsp_requests(lab)):
        assert time.monotonic() < deadline + 10, "the server never logged the panel's long poll"
        page.wait_for_timeout(200)

    # 1. the left sidebar collapsed (a click on the current tab)
    tab = page.locator('li.lm-TabBar-tab[data-id="jupyter-dsp-panel"]')
    tab.click()
    page.locator("#jupyter-dsp-panel").wait_for(state="hidden", timeout=10_000)
    _assert_quiet(lab, page, seen, 5)
    # a change while hidden: still no request; shown again, it appears at once
    name = unique("a-hidden")
    before = len(seen)
    lab.upload("project", ADD, name)
    page.wait_for_timeout(2000)
    assert seen[before:] == []
    tab.click()
    pipeline_row(page, name).wait_for(timeout=LIVE_MS)

    # 2. another sidebar tab (the file browser) in front of the panel
    page.locator('li.lm-TabBar-tab[data-id="filebrowser"]').click()
    page.locator("#jupyter-dsp-panel").wait_for(state="hidden", timeout=10_000)
    _assert_quiet(lab, page, seen, 5)
    tab.click()
    page.locator("#jupyter-dsp-panel").wait_for(state="visible", timeout=10_000)

    # 3. the browser tab hidden (another tab in front, the window minimized)
    page.wait_for_timeout(1500)
    set_page_hidden(page, True)
    _assert_quiet(lab, page, seen, 5)
    other = unique("a-unseen")
    lab.upload("project", ADD, other)
    set_page_hidden(page, False)
    pipeline_row(page, other).wait_for(timeout=LIVE_MS)


def set_page_hidden(pg: Any, hidden: bool) -> None:
    """What the browser says when its tab goes to the back (or comes to the front)."""
    pg.evaluate(
        """hidden => {
          const state = hidden ? 'hidden' : 'visible';
          const define = (name, value) =>
            Object.defineProperty(document, name, { configurable: true, get: () => value });
          define('visibilityState', state);
          define('hidden', hidden);
          document.dispatchEvent(new Event('visibilitychange'));
        }""",
        hidden,
    )


def _open_upload_dialog(lab: Lab, pg: Any, file_name: str) -> Any:
    pg.locator('li.lm-TabBar-tab[data-id="filebrowser"]').click()
    pg.locator(".jp-DirListing-item", has_text=file_name).click(button="right")
    pg.locator(".lm-Menu-item", has_text="Upload as Pipeline").click()
    dialog = pg.locator(".jp-Dialog")
    dialog.wait_for(timeout=10_000)
    return dialog


def test_upload_dialog_proposes_what_works_first_try(lab: Lab, page: Any) -> None:
    name = unique("a-taken")
    existing = lab.upload("project", ADD, name)
    shutil.copy(ADD, lab.root_dir / f"{name}.yaml")
    open_panel(page, lab)

    # the file's name exists: "a new version of" it, really selected, with a free version name
    dialog = _open_upload_dialog(lab, page, f"{name}.yaml")
    dialog.locator('input[name="mode"][value="version"]:checked').wait_for(timeout=10_000)
    select = dialog.locator('select[name="pipeline"]')
    page.wait_for_function(
        "id => document.querySelector('.jp-Dialog select[name=pipeline]')?.value === id",
        arg=existing["pipeline_id"],
        timeout=10_000,
    )
    assert select.locator("option:checked").inner_text() == name
    page.wait_for_function(
        "n => document.querySelector('.jp-Dialog input[name=name]')?.value === n",
        arg=f"{name}-v2",
        timeout=10_000,
    )
    shot(page, "live_upload_version_proposed")
    dialog.locator("button.jp-mod-accept").click()
    # the dialog closes, then uploads: the success note says it worked the first time
    page.locator(".jp-Notification-Toast-success, .Toastify__toast--success").first.wait_for(
        timeout=30_000
    )
    assert page.locator(".jp-Dialog").count() == 0  # no second dialog with an error
    versions = lab.get(lab.api("project", f"pipelines/{existing['pipeline_id']}/versions")).json()
    assert versions["total_size"] == 2
    assert f"{name}-v2" in {v["display_name"] for v in versions["pipeline_versions"]}

    # "a new pipeline" instead: a free pipeline name is proposed, and uploads at once
    dialog = _open_upload_dialog(lab, page, f"{name}.yaml")
    dialog.locator('input[name="mode"][value="version"]:checked').wait_for(timeout=10_000)
    dialog.locator('input[name="mode"][value="pipeline"]').check()
    assert dialog.locator('input[name="name"]').input_value() == f"{name}-2"
    dialog.locator("button.jp-mod-accept").click()
    deadline = time.monotonic() + 30
    while not lab.find_pipeline("project", f"{name}-2"):
        assert page.locator(".jp-Dialog .jp-DSP-error").count() == 0, "the upload was refused"
        assert time.monotonic() < deadline, "the proposed pipeline name did not upload"
        page.wait_for_timeout(300)
    assert page.locator(".jp-Dialog").count() == 0
    assert len(lab.find_pipeline("project", f"{name}-2")) == 1
    assert len(lab.find_pipeline("project", name)) == 1


def test_long_names_ellipsized_and_catch_up_defaults_on(lab: Lab, page: Any) -> None:
    name = unique("a-" + "very-long-pipeline-name-" * 4)
    lab.upload("project", ADD, name)
    open_panel(page, lab)
    label = pipeline_row(page, name).locator(".jp-DSP-row-name")
    label.wait_for(timeout=20_000)
    assert label.get_attribute("title") == name  # the full name on hover
    clipped = label.evaluate(
        "e => [e.scrollWidth > e.clientWidth, getComputedStyle(e).textOverflow]"
    )
    assert clipped == [True, "ellipsis"]

    pipeline_row(page, name).locator('[data-action="run"]').click()
    dialog = page.locator(".jp-Dialog")
    dialog.locator('input[name="a"]').wait_for(timeout=20_000)
    dialog.locator('input[name="__when__"][value="schedule"]').check()
    catch_up = dialog.locator('input[name="__catchup__"]')
    catch_up.wait_for(timeout=10_000)
    assert catch_up.is_checked()  # as `%dsp schedule`
    dialog.locator("button.jp-mod-reject").click()


def test_a_kernel_upload_and_run_show_without_a_click(lab: Lab, page: Any) -> None:
    """A notebook kernel reaches the embedded stack itself (its runtime file), not through the
    Jupyter server: the panel still sees what it does within 3 s."""
    from jupyter_client.manager import start_new_kernel
    from kernel_helpers import write_pipeline

    base = lab.root_dir.parent
    name = unique("a-kernel")
    source = write_pipeline(base, name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER_DSP_")}
    env.update(
        JUPYTER_RUNTIME_DIR=str(base / "runtime"),
        JUPYTER_DATA_DIR=str(base / "data"),
        JUPYTER_CONFIG_DIR=str(base / "config"),
        JUPYTER_DSP_SA_DIR=str(base / "no-service-account"),
        JUPYTER_PLATFORM_DIRS="1",
    )
    manager, kernel = start_new_kernel(kernel_name="python3", env=env)
    try:
        open_panel(page, lab)
        page.locator(".jp-DSP-runsSection .jp-DSP-tabs").wait_for(timeout=30_000)
        page.wait_for_timeout(1000)

        def execute(code: str) -> str:
            out: list[str] = []
            reply = kernel.execute_interactive(
                code,
                timeout=120,
                output_hook=lambda msg: out.append(str(msg["content"].get("text", ""))),
            )
            assert reply["content"]["status"] == "ok", reply["content"]
            return "".join(out)

        execute(
            "from jupyter_dsp.client import connect\n"
            f"client = connect()\nversion = client.upload({str(source)!r})"
        )
        pipeline_row(page, name).wait_for(timeout=LIVE_MS)
        run_id = execute(f"print(client.run({name!r}, {{'a': 1}}).id, end='')").strip()
        page.locator(f'.jp-DSP-run[data-run-id="{run_id}"]').wait_for(timeout=LIVE_MS)
        shot(page, "live_kernel_changes")
    finally:
        kernel.stop_channels()
        manager.shutdown_kernel(now=True)
