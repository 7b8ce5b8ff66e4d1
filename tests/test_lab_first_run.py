"""Issue 10: the README's quick start on a fresh machine. `jupyter lab`, open a notebook (the
panel is never opened: its front end is disabled here, so nothing but the server itself can
start the embedded stack), run `%load_ext jupyter_dsp` and `%dsp info`: it shows the embedded
stack. Real `jupyter lab`, real kernel, Debian's Chromium through Playwright."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import requests
from lab_harness import CHROMIUM, CHROMIUM_ARGS, shot

pytestmark = pytest.mark.browser


def start_fresh_lab(base: Path):
    """start_lab without ever calling dsp/*: wait on Jupyter's own /api/status."""
    import lab_harness

    labconfig = base / "config" / "labconfig"
    labconfig.mkdir(parents=True, exist_ok=True)
    (labconfig / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"jupyter-dsp": True}})
    )
    real_get = lab_harness.Lab.get

    def status_only(self, url, **params):  # start_lab polls dsp/info: ask /api/status instead
        if url.endswith("dsp/info"):
            response = real_get(self, f"{self.url}api/status")
            response.json = lambda: {"healthy": response.status_code == 200}  # type: ignore
            return response
        return real_get(self, url, **params)

    lab_harness.Lab.get = status_only
    try:
        return lab_harness.start_lab(base)
    finally:
        lab_harness.Lab.get = real_get


def test_dsp_info_in_a_notebook_on_a_fresh_server(tmp_path):
    from lab_harness import stop_lab
    from playwright.sync_api import sync_playwright

    lab = start_fresh_lab(tmp_path)
    try:
        nb = {
            "cells": [],
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
            "nbformat": 4,
            "nbformat_minor": 5,
        }
        put = requests.put(
            f"{lab.url}api/contents/first.ipynb",
            json={"type": "notebook", "content": nb},
            headers=lab.headers,
            timeout=30,
        )
        assert put.status_code in (200, 201), put.text
        # the notebook's kernel session exists before the page opens (as for a notebook a
        # user reopens): a loaded fresh server otherwise may ask which kernel to start
        session = requests.post(
            f"{lab.url}api/sessions",
            json={"path": "first.ipynb", "type": "notebook", "kernel": {"name": "python3"}},
            headers=lab.headers,
            timeout=60,
        )
        assert session.status_code == 201, session.text
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1300, "height": 850})
            page.goto(f"{lab.url}lab/tree/first.ipynb?token={lab.token}")
            page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=90_000)
            cell = page.locator(".jp-Notebook .jp-Cell .cm-content").first
            cell.wait_for(timeout=60_000)
            page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(
                timeout=90_000
            )
            cell.click()
            page.keyboard.type("%load_ext jupyter_dsp\n%dsp info")
            started = time.monotonic()
            page.keyboard.press("Shift+Enter")
            prompt = page.locator(".jp-Cell .jp-InputPrompt").first
            for _ in range(6):  # a run asked before the kernel session was ready is dropped
                time.sleep(5)
                if any(c.isdigit() or c == "*" for c in prompt.inner_text()):
                    break
                dialog = page.locator(".jp-Dialog")
                if dialog.count():
                    shot(page, "first_run_dialog")
                    if "Select Kernel" not in dialog.first.inner_text():
                        raise AssertionError("dialog: " + dialog.first.inner_text())
                    dialog.locator(".jp-mod-accept").first.click()  # Python 3, as a user would
                page.locator(".jp-Notebook .jp-Cell").first.click()
                page.locator("jp-button[data-command='notebook:run-cell-and-select-next']").click()
            try:
                page.wait_for_function(
                    "() => [...document.querySelectorAll('.jp-OutputArea-output')]"
                    ".some(e => /embedded|No pipeline stack/.test(e.innerText))",
                    timeout=120_000,
                )
            finally:
                shot(page, "first_run_dsp_info")
            text = page.locator(".jp-OutputArea").first.inner_text()
            browser.close()
        assert "embedded" in text, text
        assert "No pipeline stack found" not in text, text
        assert time.monotonic() - started < 120
    finally:
        stop_lab(lab)
