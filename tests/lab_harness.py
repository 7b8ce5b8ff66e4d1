"""The browser tests' JupyterLab: `jupyter lab` started on a free port with isolated
config, data and runtime folders and a known token (`start_lab`, `stop_lab`, the `Lab` handle
with its API helpers), Chromium through Playwright (module-scoped `lab` and `browser`
fixtures, a `page` per test), and the panel steps the tests share (`open_panel`, `search`,
`pipeline_row`, `shot`, `unique`). A test module takes the fixtures by assigning them:
`browser = harness.browser`."""

from __future__ import annotations

import json
import os
import secrets
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
