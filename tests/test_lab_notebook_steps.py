"""Browser test of notebooks as pipeline steps in JupyterLab: in the file browser, "Run as
Pipeline Step…" on a notebook opens the panel's run dialog with the notebook's parameters
typed (int, float, bool, str, list, dict), the run reaches SUCCEEDED in the embedded stack,
its run view shows the executed notebook, which opens in JupyterLab with one click; "Upload
as Pipeline…" uploads the notebook as a one-step pipeline. Uses lab_harness.py's launcher
and fixtures (a module-scoped lab and browser, a page per test)."""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import lab_harness as harness
import pytest
import requests
from lab_harness import Lab, open_panel, pipeline_row, search, shot, unique
from notebook_steps_helpers import make_notebook

browser = harness.browser
lab = harness.lab
page = harness.page

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

RUN_TIMEOUT_MS = 600_000
PARAMETERS = "count = 3\nratio = 0.25\nverbose = True\nlabel = 'x'\nsizes = [1, 2]\nopts = {'a': 1}"
PRINTS = "print('got', count * 2, ratio, verbose, label, sizes + [0], sorted(opts.items()))"


def notebook_in_lab(lab: Lab, name: str) -> str:
    make_notebook(lab.root_dir / f"{name}.ipynb", [(PARAMETERS, ["parameters"]), (PRINTS, None)])
    return f"{name}.ipynb"


def file_menu(page: Any, file_name: str, command: str) -> None:
    page.locator('li.lm-TabBar-tab[data-id="filebrowser"]').click()
    item = page.locator(".jp-DirListing-item", has_text=file_name)
    item.wait_for(timeout=20_000)
    item.click(button="right")
    page.locator(".lm-Menu-item", has_text=command).click()


def test_run_a_notebook_as_a_pipeline_step(lab: Lab, page: Any) -> None:
    name = unique("nbstep")
    file_name = notebook_in_lab(lab, name)
    open_panel(page, lab)
    file_menu(page, file_name, "Run as Pipeline Step")

    dialog = page.locator(".jp-Dialog")
    dialog.locator('label[data-param="count"]').wait_for(timeout=30_000)
    types = {
        p: dialog.locator(f'label[data-param="{p}"] .jp-DSP-field-type').inner_text().strip()
        for p in ("count", "ratio", "verbose", "label", "sizes", "opts")
    }
    assert types == {
        "count": "integer",
        "ratio": "number",
        "verbose": "boolean",
        "label": "string",
        "sizes": "JSON list",
        "opts": "JSON object",
    }
    # the notebook's defaults, each in a field of its type
    assert dialog.locator('input[name="count"]').input_value() == "3"
    assert dialog.locator('input[name="ratio"]').input_value() == "0.25"
    assert dialog.locator('select[name="verbose"]').input_value() == "true"
    assert dialog.locator('input[name="label"]').input_value() == "x"
    assert json.loads(dialog.locator('textarea[name="sizes"]').input_value()) == [1, 2]
    assert json.loads(dialog.locator('textarea[name="opts"]').input_value()) == {"a": 1}
    # a value of the wrong type is refused in the dialog, before any run
    dialog.locator('input[name="count"]').fill("2.5")
    dialog.locator("button.jp-mod-accept").click()
    page.locator('.jp-Dialog label[data-param="count"] .jp-DSP-field-error').wait_for(
        timeout=10_000
    )
    dialog.locator('input[name="count"]').fill("5")
    dialog.locator('select[name="verbose"]').select_option("false")
    dialog.locator('textarea[name="sizes"]').fill("[3, 4]")
    dialog.locator('textarea[name="opts"]').fill('{"b": 2}')
    shot(page, "notebook_step_run_dialog")
    dialog.locator("button.jp-mod-accept").click()

    view = page.locator(".jp-DSP-runView[data-run-id]")
    view.wait_for(timeout=30_000)
    run_id = view.get_attribute("data-run-id")
    page.locator('.jp-DSP-runView[data-state="SUCCEEDED"]').wait_for(timeout=RUN_TIMEOUT_MS)
    run = lab.get(lab.api("project", f"runs/{run_id}")).json()
    assert run["state"] == "SUCCEEDED"
    assert run["runtime_config"]["parameters"] == {
        "count": 5,
        "ratio": 0.25,
        "verbose": False,
        "label": "x",
        "sizes": [3, 4],
        "opts": {"b": 2},
    }

    # the run view shows the executed notebook (and its HTML page) as the step's outputs
    outputs = page.locator(".jp-DSP-outputs")
    outputs.wait_for(timeout=60_000)
    executed = outputs.locator('.jp-DSP-artifact[data-artifact="executed_notebook"]')
    executed.wait_for(timeout=30_000)
    assert outputs.locator('.jp-DSP-artifact[data-artifact="notebook_html"]').count() == 1
    href = executed.locator('[data-action="download"]').get_attribute("href")
    got = requests.get(requests.compat.urljoin(lab.url, href), headers=lab.headers, timeout=30)
    printed = "".join(
        "".join(o.get("text", "")) for c in got.json()["cells"] for o in c.get("outputs", [])
    )
    assert printed == "got 10 0.25 False x [3, 4, 0] [('b', 2)]\n"
    # its HTML rendering is shown in the run view (sandboxed), the cells and their outputs
    frame = page.frame_locator('[data-artifact="notebook_html"] iframe.jp-DSP-htmlFrame')
    frame.locator("pre", has_text="got 10 0.25 False").first.wait_for(timeout=30_000)
    shot(page, "notebook_step_run_view")

    # one click opens it in JupyterLab: saved next to the file browser's folder, with outputs
    executed.locator('[data-action="open-notebook"]').click()
    cell_output = page.locator(".jp-NotebookPanel:visible .jp-OutputArea-output", has_text="got 10")
    cell_output.wait_for(timeout=30_000)
    tab = page.locator(".lm-TabBar-tab.lm-mod-current", has_text=re.compile(r"executed-"))
    opened = tab.first.inner_text().strip()
    assert opened.endswith(f"-executed-{run_id[:8]}.ipynb"), opened
    saved = lab.get(f"{lab.url}api/contents/{opened}").json()
    assert saved["type"] == "notebook"
    shot(page, "notebook_step_opened")


def test_upload_a_notebook_as_a_pipeline(lab: Lab, page: Any) -> None:
    stem = unique("nbupload")
    file_name = notebook_in_lab(lab, stem)
    open_panel(page, lab)
    file_menu(page, file_name, "Upload as Pipeline")
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for(timeout=30_000)
    name_input = dialog.locator('input[name="name"]')
    page.wait_for_function(
        "s => document.querySelector('.jp-Dialog input[name=\"name\"]')?.value === s",
        arg=stem,
        timeout=10_000,
    )
    assert dialog.locator(".jp-DSP-file-name").inner_text() == f"{stem}.yaml"
    name = unique("nb-pipeline")
    name_input.fill(name)
    dialog.locator("button.jp-mod-accept").click()
    page.locator(".jp-Dialog").wait_for(state="detached", timeout=30_000)
    search(page, name)
    assert pipeline_row(page, name).count() == 1
    [found] = lab.find_pipeline("project", name)
    versions = lab.get(lab.api("project", f"pipelines/{found['pipeline_id']}/versions")).json()
    [version] = versions["pipeline_versions"]
    full = lab.get(
        lab.api(
            "project", f"pipelines/{found['pipeline_id']}/versions/{version['pipeline_version_id']}"
        )
    ).json()
    inputs = full["pipeline_spec"]["root"]["inputDefinitions"]["parameters"]
    assert {k: v["parameterType"] for k, v in inputs.items()} == {
        "count": "NUMBER_INTEGER",
        "ratio": "NUMBER_DOUBLE",
        "verbose": "BOOLEAN",
        "label": "STRING",
        "sizes": "LIST",
        "opts": "STRUCT",
    }
    shot(page, "notebook_uploaded")


def test_a_notebook_that_cannot_be_a_step_says_why(lab: Lab, page: Any) -> None:
    stem = unique("nbbad")
    make_notebook(lab.root_dir / f"{stem}.ipynb", [("rows = compute()", ["parameters"])])
    open_panel(page, lab)
    file_menu(page, f"{stem}.ipynb", "Run as Pipeline Step")
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for(timeout=30_000)
    text = dialog.inner_text()
    assert "Cannot make a pipeline step" in text and "is not a literal" in text, text
    assert "Traceback" not in text
    shot(page, "notebook_step_refused")
    page.keyboard.press("Escape")
    page.locator(".jp-Dialog").wait_for(state="detached", timeout=10_000)


TEAM_IMAGE = "quay.io/example/team-step@sha256:" + "a" * 64


def runtime_images_in(lab: Lab) -> Any:
    """Two runtime images on the lab's Jupyter data path, shaped as ODH's workbench has them."""
    folder = lab.root_dir.parent / "data" / "metadata" / "runtime-images"
    folder.mkdir(parents=True, exist_ok=True)
    workbench = f"python:{sys.version_info.major}.{sys.version_info.minor}"
    made = []
    for name, shown, image in [
        ("standard", "Standard Python", workbench),
        ("team-ubi9", "Team image (UBI9)", TEAM_IMAGE),
    ]:
        path = folder / f"{name}.json"
        path.write_text(
            json.dumps(
                {
                    "display_name": shown,
                    "metadata": {"display_name": shown, "image_name": image},
                    "schema_name": "runtime-image",
                }
            )
        )
        made.append(path)
    return made


def test_a_notebook_step_runs_on_the_runtime_image_picked(lab: Lab, page: Any) -> None:
    made = runtime_images_in(lab)
    try:
        file_name = notebook_in_lab(lab, unique("nbimage"))
        open_panel(page, lab)
        file_menu(page, file_name, "Run as Pipeline Step")
        picker = page.locator(".jp-Dialog .jp-DSP-imageChoice select")
        picker.wait_for(timeout=30_000)
        # the workbench's runtime images, the notebook's current one (the default) chosen
        offered = picker.locator("option").all_inner_texts()
        assert offered == ["Standard Python", "Team image (UBI9)"], offered
        assert picker.input_value() == "standard"
        picker.select_option(label="Team image (UBI9)")
        shown = page.locator(".jp-Dialog .jp-DSP-imageReference").inner_text()
        assert shown == TEAM_IMAGE, shown
        shot(page, "notebook_step_image_picker")
        page.locator(".jp-Dialog button.jp-mod-accept").click()

        dialog = page.locator(".jp-Dialog")
        dialog.locator('label[data-param="count"]').wait_for(timeout=30_000)
        dialog.locator("button.jp-mod-accept").click()
        view = page.locator(".jp-DSP-runView[data-run-id]")
        view.wait_for(timeout=30_000)
        run_id = view.get_attribute("data-run-id")
        page.locator('.jp-DSP-runView[data-state="SUCCEEDED"]').wait_for(timeout=RUN_TIMEOUT_MS)
        run = lab.get(lab.api("project", f"runs/{run_id}")).json()
        executors = run["pipeline_spec"]["deploymentSpec"]["executors"].values()
        assert [e["container"]["image"] for e in executors] == [TEAM_IMAGE]

        # Cancel in the picker: no run dialog, no run
        runs_before = lab.get(lab.api("project", "runs?page_size=100")).json().get("total_size")
        open_panel(page, lab)
        file_menu(page, file_name, "Run as Pipeline Step")
        picker.wait_for(timeout=30_000)
        page.locator(".jp-Dialog button.jp-mod-reject").click()
        page.locator(".jp-Dialog").wait_for(state="detached", timeout=10_000)
        page.wait_for_timeout(1500)
        assert page.locator(".jp-Dialog").count() == 0
        runs_after = lab.get(lab.api("project", "runs?page_size=100")).json().get("total_size")
        assert runs_after == runs_before
    finally:
        for path in made:
            path.unlink()
