"""Issue 20 in a browser: a run's outputs run no script in JupyterLab. tests/hostile_pipelines.py's
run (``<script>``, ``<img onerror>``, ``<svg onload>``, ``<details ontoggle>``, ``<input
autofocus onfocus>``, ``<iframe srcdoc>``, ``javascript:``/``vbscript:``/``data:`` links, a meta
refresh, in its Markdown and HTML reports, its value, a metric name, its dataset and its name;
each payload that runs sets ``window.__pwned``, retitles the page ``PWNED`` and alerts) runs on
the embedded stack of a real ``jupyter lab``, then is opened in Debian's headless Chromium
three ways: ``%dsp outputs RUN`` in a notebook cell, the RunMonitor widget of the run (its
outputs and the task's renderings) and the panel's run view. In each: no dialog, no
``window.__pwned``, the title unchanged, no ``javascript:`` (or other script scheme) link left
to click, no ``on*`` attribute or script element in the rendered outputs, HTML only inside
``<iframe sandbox="">``; and the report's safe content (its heading, its https link) shows."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import hostile_pipelines as hp
import lab_harness as harness
import pytest
import requests
from kfp import compiler
from lab_harness import Lab, open_panel, shot, unique
from test_lab_results import wait_succeeded

browser = harness.browser
lab = harness.lab

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

TITLE_WORD = "PWNED"
SCRIPT_SCHEMES = ("javascript:", "vbscript:", "data:")
# what in a rendered fragment could still run script: on* attributes, script elements,
# links and sources with a script scheme, frames that are not fully sandboxed
LIVE_MARKUP = """(scope) => {
    const found = [];
    for (const root of document.querySelectorAll(scope)) {
        for (const el of root.querySelectorAll('*')) {
            const tag = el.tagName.toLowerCase();
            if (['script', 'object', 'embed', 'meta', 'base', 'form'].includes(tag)
                && !el.matches('form.vega-bindings')) {  // vega-embed's own (empty) form
                found.push(el.outerHTML.slice(0, 160));
            }
            for (const attr of el.attributes) {
                const name = attr.name.toLowerCase();
                const value = attr.value.replace(/[\\u0000-\\u0020\\u007f]/g, '').toLowerCase();
                if (name.startsWith('on')) found.push(tag + ' ' + name);
                if (['href', 'src', 'action', 'formaction', 'xlink:href', 'data'].includes(name)
                    && /^(javascript|vbscript|data):/.test(value)) {
                    found.push(tag + ' ' + name + '=' + value.slice(0, 30));
                }
                if (name === 'srcdoc' && tag !== 'iframe') found.push(tag + ' srcdoc');
            }
            if (tag === 'iframe' && el.getAttribute('sandbox') !== '') {
                found.push('iframe sandbox=' + el.getAttribute('sandbox'));
            }
        }
    }
    return found;
}"""


@pytest.fixture(scope="module")
def hostile_run(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The hostile pipeline uploaded to the project space and run there (through the proxy)."""
    package = tmp_path_factory.mktemp("hostile") / "hostile.yaml"
    compiler.Compiler().compile(hp.hostile, str(package))
    pipeline = lab.upload("project", package, unique("hostile"))
    versions = lab.get(lab.api("project", f"pipelines/{pipeline['pipeline_id']}/versions")).json()
    body = {
        "display_name": hp.RUN_NAME,
        "pipeline_version_reference": {
            "pipeline_id": pipeline["pipeline_id"],
            "pipeline_version_id": versions["pipeline_versions"][0]["pipeline_version_id"],
        },
    }
    created = requests.post(lab.api("project", "runs"), json=body, headers=lab.headers, timeout=60)
    assert created.status_code == 200, created.text
    run_id = created.json()["run_id"]
    wait_succeeded(lab, run_id)
    return run_id


class Watched:
    """A page whose dialogs (alert, confirm, prompt, beforeunload) are recorded, dismissed."""

    def __init__(self, browser: Any) -> None:
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000})
        self.page = self.context.new_page()
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.page.on("dialog", self._dialog)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def assert_inert(self, lab: Lab, scope: str, where: str) -> None:
        page = self.page
        page.wait_for_timeout(1500)  # onerror, ontoggle, onfocus and refreshes fire by now
        shot(page, f"hostile_{where}")
        assert self.dialogs == [], (where, self.dialogs)
        assert page.evaluate("() => window.__pwned") is None, where
        assert TITLE_WORD not in page.title(), (where, page.title())
        assert page.url.startswith(lab.url), (where, page.url)  # no refresh navigated away
        assert page.evaluate(LIVE_MARKUP, scope) == [], where
        # the links that were javascript: are there as text, and clicking them runs nothing
        for name in ("javascript link", "markdown javascript link", "entity link"):
            for link in page.locator(f"{scope} a", has_text=re.compile(f"^{name}$")).all():
                href = (link.get_attribute("href") or "").strip().lower()
                assert not href.startswith(SCRIPT_SCHEMES), (where, name, href)
                if href in ("", "#"):
                    link.click()
        page.wait_for_timeout(300)
        assert self.dialogs == [] and page.evaluate("() => window.__pwned") is None, where
        assert TITLE_WORD not in page.title(), where

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def watched(browser: Any) -> Any:
    w = Watched(browser)
    try:
        yield w
    finally:
        w.close()


def assert_report_shows(page: Any, scope: str) -> None:
    """The sanitized report is still rendered: its heading and its https link."""
    heading = page.locator(f"{scope} h1", has_text="Hostile report").first
    heading.wait_for(timeout=60_000)
    assert heading.is_visible()
    fine = page.locator(f'{scope} a[href="https://example.com/report"]')
    assert fine.count() >= 1 and "a fine link" in fine.first.inner_text()


def write_notebook(path: Path, cells: list[str]) -> None:
    path.write_text(
        json.dumps(
            {
                "cells": [
                    {
                        "cell_type": "code",
                        "execution_count": None,
                        "id": f"c{i}",
                        "metadata": {},
                        "outputs": [],
                        "source": source,
                    }
                    for i, source in enumerate(cells)
                ],  # fmt: skip
                "metadata": {
                    "kernelspec": {
                        "display_name": "Python 3",
                        "language": "python",
                        "name": "python3",
                    },
                },  # fmt: skip
                "nbformat": 4,
                "nbformat_minor": 5,
            }
        )
    )


def run_notebook(lab: Lab, page: Any, filename: str) -> None:
    """Open ``filename`` in a fresh workspace and Run All; wait until no cell is busy."""
    page.goto(f"{lab.url}lab/workspaces/{unique('ws')}/tree/{filename}?reset&token={lab.token}")
    page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=90_000)
    page.locator(".jp-StatusBar-Widget", has_text=re.compile(r"Python 3.*\| Idle")).first.wait_for(
        timeout=120_000
    )
    page.locator(".jp-NotebookPanel:visible .jp-Notebook").first.click()
    page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).first.click()
    page.get_by_role("menuitem", name=re.compile(r"^Run All Cells")).first.click()
    page.wait_for_function(
        """() => {
            const prompts = [...document.querySelectorAll(
                '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')];
            return prompts.length && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
        }""",
        timeout=300_000,
    )
    errors = page.locator(".jp-NotebookPanel:visible .jp-OutputArea-output[data-mime-type="
                          '"application/vnd.jupyter.stderr"]')  # fmt: skip
    assert errors.count() == 0 or "Traceback" not in errors.first.inner_text()


def test_dsp_outputs_in_a_notebook_runs_nothing(lab: Lab, watched: Any, hostile_run: str) -> None:
    filename = f"{unique('outputs')}.ipynb"
    cells = ["%load_ext jupyter_dsp", f"%dsp outputs {hostile_run}"]
    write_notebook(lab.root_dir / filename, cells)
    page = watched.page
    run_notebook(lab, page, filename)
    scope = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea"
    assert_report_shows(page, scope)
    # the HTML report: in a sandboxed frame, its heading drawn, nothing of it running
    frame = page.frame_locator(f"{scope} iframe[sandbox='']").first
    assert frame.locator("h1").first.inner_text() == "Hostile HTML"
    # the value and the run's name: shown as text
    assert page.locator(scope, has_text='<img src="x" onerror=').count() >= 1
    watched.assert_inert(lab, scope, "notebook_outputs")
    assert not watched.errors, watched.errors


def test_run_monitor_widget_runs_nothing(lab: Lab, watched: Any, hostile_run: str) -> None:
    filename = f"{unique('monitor')}.ipynb"
    write_notebook(
        lab.root_dir / filename,
        [
            "import jupyter_dsp\nfrom jupyter_dsp.widgets import RunMonitor",
            f"monitor = RunMonitor(jupyter_dsp.connect(), {hostile_run!r})\n"
            "monitor.wait(120)\n"
            f"monitor.select_task({hp.TASK!r})\n"
            "monitor",
        ],
    )
    page = watched.page
    run_notebook(lab, page, filename)
    scope = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea .widget-vbox"
    page.locator(scope).first.wait_for(timeout=60_000)
    assert_report_shows(page, scope)
    frame = page.frame_locator(f"{scope} iframe[sandbox='']").first
    assert frame.locator("h1").first.inner_text() == "Hostile HTML"
    assert page.locator(f"{scope} .widget-html", has_text="<img").count() >= 1  # as text
    watched.assert_inert(lab, scope, "run_monitor")
    assert not watched.errors, watched.errors


def test_panel_run_view_runs_nothing(lab: Lab, watched: Any, hostile_run: str) -> None:
    page = watched.page
    open_panel(page, lab)
    page.locator(f'.jp-DSP-run[data-run-id="{hostile_run}"] .jp-DSP-row-name').click()
    view = f'.jp-DSP-runView[data-run-id="{hostile_run}"]'
    page.locator(f'{view}[data-state="SUCCEEDED"]').wait_for(timeout=60_000)
    outputs = ".jp-DSP-outputs"
    page.locator(outputs).wait_for(timeout=30_000)
    task = f'{outputs} details[data-task="{hp.TASK}"]'
    page.locator(f"{task} .jp-DSP-markdown h1", has_text="Hostile report").wait_for(timeout=30_000)
    assert_report_shows(page, task)
    frame = page.frame_locator(f"{task} iframe.jp-DSP-htmlFrame").first
    assert frame.locator("h1").first.inner_text() == "Hostile HTML"
    # the task's inputs and outputs from the graph, and its log
    page.locator(f'.jp-DSP-dag-node[data-task="{hp.TASK}"]').click()
    page.locator(".jp-DSP-taskIO").wait_for(timeout=20_000)
    time.sleep(0.5)
    watched.assert_inert(lab, ".jp-DSP-runView, .jp-DSP-runs", "panel_run_view")
    assert (
        hp.RUN_NAME in page.locator(view).inner_text()
        or hp.RUN_NAME in page.locator(".jp-DSP-runs").inner_text()
    )  # the run's name, as text
    assert not watched.errors, watched.errors
