"""Widgets without a browser (ipywidgets' stand-in comm): pipeline browser and run form."""

from __future__ import annotations

import html

import ipywidgets as widgets
import pytest
from kernel_helpers import client_for, write_pipeline

from jupyter_dsp.widgets import PipelineBrowser, RunForm
from jupyter_dsp.widgets.dag import graph_from_spec, render_svg


def status(form: RunForm) -> str:
    return html.unescape(form.status.value)


@pytest.fixture
def client(stack):
    return client_for(stack)


@pytest.fixture
def uploaded(client, tmp_path, unique_name):
    """One private and one shared pipeline with unique names."""
    private = unique_name("wpriv")
    shared = unique_name("wshared")
    client.upload(str(write_pipeline(tmp_path, private)))
    client.upload(str(write_pipeline(tmp_path, private)), version="v2")
    client.upload(str(write_pipeline(tmp_path, shared)), shared=True)
    return private, shared


def test_browser_lists_both_spaces_with_versions(client, uploaded):
    private, shared = uploaded
    browser = PipelineBrowser(client, user_ns={})
    assert browser.tabs.titles == ("Shared", "Project")
    assert shared in browser.names("shared") and shared not in browser.names("project")
    assert private in browser.names("project") and private not in browser.names("shared")
    row = browser.row("project", private)
    assert [label.split()[0] for label, _ in row.version.options] == ["v2", private]
    assert browser.row("shared", shared).fork_button is not None
    assert row.fork_button is None


def test_browser_fork_upload_and_delete_with_confirmation(client, uploaded, tmp_path):
    private, shared = uploaded
    browser = PipelineBrowser(client, user_ns={})
    browser.row("shared", shared).fork_button.click()
    assert shared in browser.names("project")
    assert "Forked" in browser.status.value

    browser.upload_path.value = str(write_pipeline(tmp_path, f"{private}-up"))
    browser.upload_shared.value = True
    browser.upload_button.click()
    assert f"{private}-up" in browser.names("shared")

    row = browser.row("project", private)
    row.delete_button.click()
    confirm = browser.detail.children[0]
    assert "2 versions" in confirm.children[0].value
    assert private in browser.names("project")  # nothing deleted before confirming
    confirm.children[1].click()
    assert private not in browser.names("project")
    assert "Deleted" in browser.status.value


def test_browser_offers_notebook_pipelines_for_upload(client, tmp_path, unique_name):
    import runpy

    name = unique_name("nb")
    ns = runpy.run_path(str(write_pipeline(tmp_path, name)))
    browser = PipelineBrowser(client, user_ns={"my_pipeline": ns["pipeline"], "x": 1})
    assert [value for _, value in browser.upload_source.options] == ["", "my_pipeline"]
    browser.upload_source.value = "my_pipeline"
    version = browser.upload()
    assert version.pipeline.name == name
    assert name in browser.names("project")


def test_run_form_inputs_follow_the_declared_types(client, uploaded):
    private, _ = uploaded
    browser = PipelineBrowser(client, user_ns={})
    form = browser.open_run_form(browser.row("project", private))
    assert isinstance(form, RunForm)
    assert form.inputs["a"].description == "a *"  # required, no default
    assert form.inputs["b"].value == "0.5"  # default filled
    assert isinstance(form.inputs["flags"], widgets.Textarea)
    assert form.inputs["flags"].value == "[]"


def test_run_form_refuses_a_bad_value(client, uploaded):
    private, _ = uploaded
    form = RunForm(client, private)
    form.inputs["a"].value = "three"
    assert form.submit() is None
    assert "'a' expects int" in status(form)
    assert "'a' expects int" in form.message  # the same as plain text, for print()
    assert "solid" in (form.inputs["a"].layout.border or "")
    # only the bad input is marked (all text inputs shared one Layout and all turned red)
    for other in ("b", "label", "flags"):
        assert not form.inputs[other].layout.border, other
    assert form.monitor is None and form.last_run is None

    form.inputs["a"].value = "3"
    form.inputs["flags"].value = "{not json"
    form.run_button.click()
    assert "'flags'" in status(form) and form.last_run is None

    form.inputs["flags"].value = "[]"
    form.inputs["a"].value = ""
    assert form.submit() is None
    assert "Missing required parameter 'a'" in status(form)


def test_dag_levels_follow_dependencies(client, uploaded):
    private, _ = uploaded
    spec = client.find_pipeline(private).latest.spec
    nodes = graph_from_spec(spec)
    assert [(n.name, n.level) for n in nodes] == [("add", 0), ("report", 1)]
    assert nodes[1].upstream == ["add"]
    svg = render_svg(nodes, {"add": "SUCCEEDED", "report": "RUNNING"}, selected="report")
    assert svg.startswith("<svg") and svg.count("<rect") == 2 and "<line" in svg
    assert "#2e7d32" in svg and "#1565c0" in svg  # succeeded green, running blue
