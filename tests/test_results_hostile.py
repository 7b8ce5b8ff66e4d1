"""Issue 20: a run's outputs run no script in the kernel's displays. tests/hostile_pipelines.py's
run (script, on* handlers, javascript:/vbscript:/data: links in its Markdown and HTML reports,
its output value, a metric name, dataset rows, metadata and the run's name) goes through the
real stack, ``%dsp outputs``/``%dsp show`` in a real IPython shell and the RunMonitor; every HTML
they display is parsed with html.parser: no live script, no on* attribute, no link or source
other than http(s)/mailto/relative, and any iframe sandboxed (``sandbox=""``, srcdoc only)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import hostile_pipelines as hp
import pytest
from IPython.utils.capture import capture_output
from kernel_helpers import client_for

from jupyter_dsp.client import render_results
from jupyter_dsp.client.outputs import load_results
from jupyter_dsp.widgets import RunMonitor

FORBIDDEN_TAGS = {
    "script", "style", "object", "embed", "applet", "base", "meta", "link", "form", "frame",
    "frameset", "button", "input", "textarea", "select", "math", "template",
}  # fmt: skip
URL_ATTRS = {"href", "src", "action", "formaction", "xlink:href", "data", "poster", "background"}
SAFE_SCHEMES = {"", "http", "https", "mailto"}


class Inert(HTMLParser):
    """Collects what in an HTML fragment could run script in the page that shows it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.frames: list[str] = []  # srcdoc of each (sandboxed) iframe
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        self.tags.append((tag, values))
        if tag in FORBIDDEN_TAGS:
            self.problems.append(f"<{tag}>")
        if tag == "iframe":
            if values.get("sandbox") != "" or set(values) - {"sandbox", "srcdoc", "style"}:
                self.problems.append(f"iframe {values}")
            self.frames.append(values.get("srcdoc", ""))
        elif "srcdoc" in values:
            self.problems.append(f"srcdoc on <{tag}>")
        for name, value in values.items():
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}>")
            if name in URL_ATTRS or name == "srcset":
                # as a browser reads a URL: control characters and whitespace removed
                url = re.sub(r"[\x00-\x20\x7f]", "", value)
                scheme = urlsplit(url).scheme.lower() if ":" in url else ""
                if scheme not in SAFE_SCHEMES:
                    self.problems.append(f"<{tag} {name}={value[:40]!r}>")

    handle_startendtag = handle_starttag


def inert(html: str) -> Inert:
    parser = Inert()
    parser.feed(html)
    parser.close()
    assert not parser.problems, parser.problems
    return parser


def check_bundles(bundles: list[dict[str, Any]]) -> list[Inert]:
    assert bundles
    parsed = []
    for bundle in bundles:
        assert "text/markdown" not in bundle, "Markdown shown unsanitized"
        assert "text/plain" in bundle
        if "text/html" in bundle:
            parsed.append(inert(bundle["text/html"]))
        if "image/svg+xml" in bundle:
            parsed.append(inert(bundle["image/svg+xml"]))
    return parsed


@pytest.fixture(scope="module")
def hostile_run(stack) -> Any:
    run = client_for(stack).run(hp.hostile, name=hp.RUN_NAME, wait=True, timeout=300)
    assert run.state == "SUCCEEDED", run.error
    return run


def shown(shell, line: str) -> list[dict[str, Any]]:
    with capture_output() as captured:
        result = shell.run_cell(line)
    result.raise_error()
    return [o.data for o in captured.outputs]


def test_outputs_magic_displays_no_live_markup(shell, hostile_run):
    bundles = shown(shell, f"%dsp outputs {hostile_run.id}")
    parsed = check_bundles(bundles)
    html = "".join(b.get("text/html", "") for b in bundles)
    text = "\n".join(b["text/plain"] for b in bundles)

    # the report is still there, rendered: heading, table of metrics, the https link kept
    tags = [t for p in parsed for t in p.tags]
    assert ("h1", {}) in tags and "Hostile report" in html
    links = [a["href"] for tag, a in tags if tag == "a" and "href" in a]
    assert "https://example.com/report" in links
    assert all(not h.lower().startswith(("javascript", "vbscript", "data")) for h in links)
    # the Markdown's source is the plain-text fallback, unchanged
    assert hp.MARKDOWN in text
    # the HTML report: whole, in exactly one sandboxed frame (no script runs in it)
    frames = [f for p in parsed for f in p.frames]
    assert frames == [hp.HTML_REPORT]
    # values, metric names, dataset cells, metadata and the run's name: escaped text
    assert hp.VALUE in text and "&lt;img" in html and "&lt;script&gt;" in html
    assert hp.RUN_NAME in text

    one_task = shown(shell, f"%dsp outputs {hostile_run.id} {hp.TASK}")
    check_bundles(one_task)
    run = shell.run_line_magic("dsp", f"show {hostile_run.id}")
    data, _ = shell.display_formatter.format(run)
    check_bundles([data])
    assert "&lt;img" in data["text/html"]  # its name and parameters, escaped


def test_results_objects_render_no_live_markup(stack, hostile_run):
    client = client_for(stack)
    results = load_results(client, hostile_run.id, run_name=hostile_run.name)
    task = results.task(hp.TASK)
    assert task is not None
    bundles = [
        results._repr_mimebundle_(),
        task._repr_mimebundle_(),
        task.outputs._repr_mimebundle_(),
        render_results.run_summary_table(results),
        *render_results.run_bundles(results),
        *render_results.task_bundles(task),
    ]
    for artifact in task.outputs.all_artifacts():
        bundles.append(artifact._repr_mimebundle_())
        bundles.extend(render_results.artifact_bundles(artifact))
    check_bundles(bundles)
    assert task.outputs["Output"] == hp.VALUE  # the value itself is kept, only shown escaped


def test_run_monitor_shows_no_live_markup(stack, hostile_run):
    monitor = RunMonitor(client_for(stack), hostile_run.id, autostart=False)
    monitor.start()  # the run is over: shows its final state and outputs at once
    monitor.select_task(hp.TASK)
    for widget in (
        monitor.header,
        monitor.graph,
        monitor.log_view,
        monitor.status,
        monitor.outputs_view.summary,
        monitor.outputs_view.status,
    ):
        inert(widget.value)
    assert "&lt;img" in monitor.header.value
    assert "&lt;img" in monitor.outputs_view.summary.value  # the value and the metric name
    detail = [o["data"] for o in monitor.outputs_view.detail.outputs]
    parsed = check_bundles(detail)
    assert [f for p in parsed for f in p.frames] == [hp.HTML_REPORT]
    assert any(("h1", {}) in p.tags for p in parsed)
