"""Each guided notebook opened fresh in JupyterLab and run with Run All, as a newcomer would:
no kernel dialog (the notebook names ``python3``, which Lab starts by itself), every code cell
executed, no error output. Real `jupyter lab` with the extension and its embedded stack, real
kernels, Debian's Chromium through Playwright. (tests/test_notebooks.py runs each twice with
nbclient; here each runs once, to keep the suite short.)"""

from __future__ import annotations

import re
import shutil
import time
from typing import Any

import pytest
import requests
from lab_harness import Lab, browser, lab, shot  # noqa: F401 (fixtures)
from test_notebooks import ALL, NOTEBOOKS

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

RUN_TIMEOUT_MS = 600_000


def saved_notebook(server: Lab, name: str) -> dict[str, Any]:
    """The notebook as saved; a read that meets the file mid-save (Jupyter answers 400,
    'Notebook does not appear to be JSON') is tried again."""
    url = f"{server.url}api/contents/{name}"
    for _ in range(20):
        response = requests.get(url, headers=server.headers, timeout=30)
        if response.status_code != 400:
            break
        time.sleep(0.25)
    response.raise_for_status()
    return response.json()["content"]


def no_dialog(page: Any, when: str) -> None:
    dialogs = page.locator(".jp-Dialog")
    if dialogs.count():
        shot(page, f"notebook_dialog_{when}")
        raise AssertionError(f"a dialog {when}: {dialogs.first.inner_text()[:300]}")


@pytest.mark.parametrize("name", ALL)
def test_guided_notebook_runs_all_in_lab(lab: Lab, browser: Any, name: str) -> None:  # noqa: F811
    filename = f"{name}.ipynb"
    shutil.copy(NOTEBOOKS / filename, lab.root_dir / filename)
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page_errors: list[str] = []
    page.on("pageerror", lambda exc: page_errors.append(str(exc)))
    try:
        # a workspace of its own, reset: only this notebook open, as on a first visit
        opened = time.monotonic()
        page.goto(f"{lab.url}lab/workspaces/nb-{name}/tree/{filename}?reset&token={lab.token}")
        page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=90_000)
        page.locator(".jp-NotebookPanel:visible .jp-Cell").first.wait_for(timeout=60_000)
        # the kernel the notebook names starts by itself, and nobody is asked: the status
        # bar reads "Python 3 (ipykernel) | Idle" (Lab asks "Select Kernel" only if a cell is
        # run before the kernel is connected)
        page.locator(
            ".jp-StatusBar-Widget", has_text=re.compile(r"Python 3.*\| Idle")
        ).first.wait_for(timeout=120_000)
        no_dialog(page, "on open")
        ready = time.monotonic() - opened

        page.locator(".jp-NotebookPanel:visible .jp-Notebook").first.click()
        page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).first.click()
        try:
            page.get_by_role("menuitem", name=re.compile(r"^Run All Cells")).first.click()
        except Exception:
            shot(page, f"notebook_menu_{name}")
            raise
        # nothing queued or running any more (a failing cell stops Run All: checked below)
        try:
            page.wait_for_function(
                """() => {
                    const panel = [...document.querySelectorAll('.jp-NotebookPanel')]
                        .find(p => !p.classList.contains('lm-mod-hidden'));
                    const prompts = [...panel.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];
                    const busy = prompts.some(p => p.textContent.includes('*'));
                    return !busy && prompts.some(p => /\\[\\d+\\]/.test(p.textContent));
                }""",
                timeout=RUN_TIMEOUT_MS,
            )
        finally:
            shot(page, f"notebook_{name}")
        no_dialog(page, "after Run All")
        ran = time.monotonic() - opened - ready
        print(f"{name}: kernel idle {ready:.1f} s after opening, Run All took {ran:.1f} s")

        # what the user sees, saved: every code cell ran, none ended in an error
        page.locator(".jp-NotebookPanel:visible .jp-Notebook").first.click()
        page.keyboard.press("Control+s")
        deadline = time.monotonic() + 30
        while True:
            content = saved_notebook(lab, filename)
            code = [c for c in content["cells"] if c["cell_type"] == "code"]
            if all(c["execution_count"] for c in code) or time.monotonic() > deadline:
                break
            time.sleep(1)
        unrun = [c["source"][:60] for c in code if not c["execution_count"]]
        errors = [
            (c["source"][:60], o.get("ename"), o.get("evalue"))
            for c in code
            for o in c["outputs"]
            if o["output_type"] == "error"
        ]
        assert not errors, errors
        assert not unrun, f"cells Run All did not reach: {unrun}"
        assert not page_errors, page_errors
    finally:
        context.close()
