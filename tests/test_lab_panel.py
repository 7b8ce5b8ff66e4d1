"""Browser tests of the JupyterLab panel: a real ``jupyter lab`` with the jupyter_dsp
server extension (which starts its embedded stack), driven in Debian's headless Chromium
through Python Playwright. Screenshots go to ``tests/artifacts/``.

The panel must already be built into the installed package (``pip install -e .``).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import reference
import requests

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
PIPELINES = reference.VALID
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
START_TIMEOUT_S = 90.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Lab:
    """A running ``jupyter lab`` and what tests need to talk to it."""

    url: str  # base URL with trailing slash
    token: str
    root_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def api(self, space: str, path: str) -> str:
        return f"{self.url}dsp/api/{space}/apis/v2beta1/{path}"

    def get(self, url: str, **params: Any) -> requests.Response:
        return requests.get(url, params=params, headers=self.headers, timeout=30)

    def info(self) -> dict[str, Any]:
        response = self.get(f"{self.url}dsp/info")
        response.raise_for_status()
        return response.json()

    def upload(self, space: str, path: Path, name: str) -> dict[str, Any]:
        params = {"name": name, "display_name": name}
        if space == "project":
            params["namespace"] = self.info()["namespace"]
        with path.open("rb") as handle:
            response = requests.post(
                self.api(space, "pipelines/upload"),
                params=params,
                files={"uploadfile": (path.name, handle, "application/yaml")},
                headers=self.headers,
                timeout=60,
            )
        assert response.status_code == 200, response.text
        return response.json()

    def find_pipeline(self, space: str, name: str) -> list[dict[str, Any]]:
        params: dict[str, Any] = {
            "filter": json.dumps(
                {"predicates": [{"key": "name", "operation": "EQUALS", "string_value": name}]}
            )
        }
        if space == "project":
            params["namespace"] = self.info()["namespace"]
        response = self.get(self.api(space, "pipelines"), **params)
        assert response.status_code == 200, response.text
        return response.json().get("pipelines", [])

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def start_lab(base: Path, extra_env: dict[str, str] | None = None, healthy: bool = True) -> Lab:
    """Start ``jupyter lab`` on a free port, isolated config/data/runtime dirs, a known token."""
    root_dir = base / "root"
    for sub in ("root", "config", "data", "runtime"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(24)
    port = free_port()
    env = dict(os.environ)
    for key in list(env):
        if key.startswith("JUPYTER_DSP_") or key.startswith("KF_PIPELINES_"):
            del env[key]
    env.update(
        JUPYTER_CONFIG_DIR=str(base / "config"),
        JUPYTER_DATA_DIR=str(base / "data"),
        JUPYTER_RUNTIME_DIR=str(base / "runtime"),
        JUPYTER_DSP_SA_DIR=str(base / "no-service-account"),
        JUPYTER_PLATFORM_DIRS="1",
    )
    env.update(extra_env or {})
    # no "get notified about news?" toast over the screenshots
    settings = base / "config" / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    log_path = base / "lab.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyterlab",
                "--allow-root",
                "--no-browser",
                "--ip=127.0.0.1",
                f"--port={port}",
                "--ServerApp.port_retries=0",
                f"--IdentityProvider.token={token}",
                f"--ServerApp.root_dir={root_dir}",
                "--LabApp.news_url=None",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    lab = Lab(f"http://127.0.0.1:{port}/", token, root_dir, process, log_path)
    deadline = time.monotonic() + START_TIMEOUT_S
    last = ""
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {process.returncode}:\n{lab.log_tail()}")
        try:
            response = lab.get(f"{lab.url}dsp/info")
            last = f"{response.status_code} {response.text[:300]}"
            if response.status_code == 200 and (response.json().get("healthy") or not healthy):
                return lab
        except requests.RequestException as exc:
            last = str(exc)
        time.sleep(0.5)
    stop_lab(lab)
    raise RuntimeError(f"dsp/info never became healthy (last: {last}):\n{lab.log_tail()}")


def stop_lab(lab: Lab) -> None:
    """Stop the server (SIGTERM to its session, so the embedded stack goes too), then kill."""
    if lab.process.poll() is None:
        try:
            os.killpg(lab.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            lab.process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(lab.process.pid, signal.SIGKILL)
            lab.process.wait(10)
    # an embedded stack that outlived the server is in the same session: stop it too
    try:
        os.killpg(lab.process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    handle = start_lab(tmp_path_factory.mktemp("lab"))
    try:
        yield handle
    finally:
        stop_lab(handle)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any, lab: Lab, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield pg
    finally:
        # the last state of every test, to look at when one fails
        shot(pg, f"last_{request.node.name}")
        context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def shot(pg: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"lab_{name}.png"
    pg.screenshot(path=str(path))
    return path


def open_panel(pg: Any, lab: Lab) -> None:
    # a workspace of its own: tests sharing a server do not restore each other's tabs
    pg.goto(f"{lab.url}lab/workspaces/{unique('ws')}?token={lab.token}")
    pg.wait_for_selector("#jupyterlab-splash", state="detached", timeout=60_000)
    tab = pg.locator('li.lm-TabBar-tab[data-id="jupyter-dsp-panel"]')
    tab.wait_for(timeout=30_000)
    if "lm-mod-current" not in (tab.get_attribute("class") or ""):
        tab.click()
    pg.locator(".jp-DSP-namespace").wait_for(timeout=30_000)


def pipeline_row(pg: Any, name: str) -> Any:
    return pg.locator(f'.jp-DSP-pipeline[data-name="{name}"]')


def search(pg: Any, name: str) -> None:
    """Type a name into the current tab's search box; wait for the server-filtered list."""
    pg.locator(".jp-DSP-search").fill(name)
    pg.locator('.jp-DSP-count[data-count="1"]').wait_for(timeout=20_000)
    pipeline_row(pg, name).wait_for(timeout=20_000)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


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
