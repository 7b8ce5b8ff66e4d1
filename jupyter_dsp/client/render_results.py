"""Renderings of run results as MIME bundles, the same in JupyterLab, Notebook 7 and VS Code.

A chart is one Vega-Lite v5 spec (:mod:`jupyter_dsp.client.charts`) in its own bundle with an
SVG picture and a text/plain fallback (no text/html in a chart bundle: JupyterLab prefers HTML
over Vega-Lite, so an HTML fallback would hide the chart). Tables are HTML + text. A run's
content is someone else's: a Markdown report is rendered and sanitized
(:mod:`jupyter_dsp.client.safe_html`) and shown as ``text/html``, never ``text/markdown``
(front-ends render a live cell's Markdown unsanitized); an HTML artifact is shown in an
``<iframe sandbox="" srcdoc=...>`` (no scripts, an opaque origin); every name and value is
escaped. A dataset shows its first rows (pandas when installed, else ``csv``).
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any, Protocol

from jupyter_dsp.client import charts
from jupyter_dsp.client.render import badge, table
from jupyter_dsp.client.safe_html import markdown_html, safe_url
from jupyter_dsp.common import display


# What the renderings read of the results objects of :mod:`jupyter_dsp.client.outputs`
# (which render themselves with the functions below, so this module names only their shape).
class ArtifactView(Protocol):
    name: str
    type: str
    uri: str
    task: str
    metadata: dict[str, Any]
    size: int | None

    @property
    def metrics(self) -> dict[str, float]: ...
    def preview_bytes(self) -> bytes: ...
    def preview_text(self) -> str: ...
    def head_rows(self, limit: int = 10) -> tuple[list[str], list[list[str]]]: ...


class OutputsView(Protocol):
    title: str
    parameters: dict[str, Any]

    @property
    def artifacts(self) -> Mapping[str, Any]: ...
    @property
    def metrics(self) -> dict[str, float]: ...
    def all_artifacts(self) -> Sequence[ArtifactView]: ...
    def __len__(self) -> int: ...


class TaskView(Protocol):
    state: str
    cached: bool

    @property
    def label(self) -> str: ...
    @property
    def inputs(self) -> OutputsView: ...
    @property
    def outputs(self) -> OutputsView: ...


class RunView(Protocol):
    run_id: str
    run_name: str
    state: str
    source: str
    ui_url: str | None
    unavailable: str | None

    @property
    def pipeline(self) -> OutputsView: ...
    @property
    def tasks(self) -> Sequence[TaskView]: ...


Bundle = dict[str, Any]
PREVIEW_ROWS = 10
MAX_TASKS_SHOWN = 60
DATASET_TYPES = ("system.Dataset",)


def display_bundles(bundles: list[Bundle]) -> None:
    from IPython.display import display

    for bundle in bundles:
        display(bundle, raw=True)


def html_bundle(html: str, text: str) -> Bundle:
    return {"text/html": html, "text/plain": text}


def joined(bundles: list[Bundle]) -> Bundle:
    """Several bundles as one (their HTML one after the other, their text line by line)."""
    return html_bundle(
        "".join(b.get("text/html", "") for b in bundles),
        "\n".join(b.get("text/plain", "") for b in bundles),
    )


def chart_bundle(spec: dict[str, Any], svg: str, text: str) -> Bundle:
    return {charts.VEGALITE_MIME: spec, "image/svg+xml": svg, "text/plain": text}


value_text = display.value_text  # floats at a sensible precision (0.1, not 0.0999…98)


def type_name(value: Any) -> str:
    return {bool: "bool", int: "int", float: "float", str: "str", list: "list", dict: "dict"}.get(
        type(value), type(value).__name__
    )


def human_size(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


# ---- parameters and metrics ------------------------------------------------------------------


def parameters_bundle(parameters: dict[str, Any], title: str = "parameters") -> Bundle:
    rows = [
        [escape(k), f"<code>{escape(value_text(v))}</code>", escape(type_name(v))]
        for k, v in parameters.items()
    ]
    text = "\n".join(f"  {k} = {value_text(v)!s} ({type_name(v)})" for k, v in parameters.items())
    return html_bundle(
        f"<b>{escape(title)}</b>{table(['name', 'value', 'type'], rows)}", f"{title}:\n{text}"
    )


def metrics_bundles(metrics: dict[str, float], title: str) -> list[Bundle]:
    rows = [[escape(k), f"{v:.6g}"] for k, v in metrics.items()]
    text = "\n".join(f"  {k}: {v:.6g}" for k, v in metrics.items())
    out = [
        html_bundle(
            f"<b>{escape(title)}</b>{table(['metric', 'value'], rows)}", f"{title}:\n{text}"
        )
    ]
    if metrics:  # one metric is a chart too (one bar with its value)
        out.append(
            chart_bundle(
                charts.metrics_bar(metrics, title), charts.bars_svg(metrics), f"{title} (bar chart)"
            )
        )
    return out


def classification_bundles(metadata: dict[str, Any], title: str) -> list[Bundle]:
    out: list[Bundle] = []
    matrix = metadata.get("confusionMatrix")
    if isinstance(matrix, dict) and matrix.get("rows"):
        labels, rows = charts.confusion_labels_counts(matrix)
        text = f"{title}: confusion matrix (rows actual, columns predicted) {labels}\n" + "\n".join(
            "  " + " ".join(f"{c:>6g}" for c in row) for row in rows
        )
        out.append(
            chart_bundle(
                charts.confusion_heatmap(matrix, f"{title}: confusion matrix"),
                charts.heatmap_svg(matrix),
                text,
            )
        )
    confidence = metadata.get("confidenceMetrics")
    if isinstance(confidence, list) and confidence:
        points = charts.roc_points(confidence)
        text = f"{title}: ROC curve, {len(points)} points (fpr, recall): " + ", ".join(
            f"({p['fpr']:.3g}, {p['recall']:.3g})" for p in points[:20]
        )
        out.append(
            chart_bundle(
                charts.roc_curve(confidence, f"{title}: ROC curve"),
                charts.roc_svg(confidence),
                text,
            )
        )
    return out


# ---- artifacts -------------------------------------------------------------------------------


def _header(a: ArtifactView) -> Bundle:
    meta = {k: v for k, v in a.metadata.items() if k != "display_name"}
    shown = escape(json.dumps(meta)[:400]) if meta and a.type not in _CHART_TYPES else ""
    size = f" &middot; {escape(human_size(a.size))}" if a.size is not None else ""
    html = (
        f"<div><b>{escape(a.name)}</b> <small>{escape(a.type)}{size} &middot; "
        f"<code>{escape(a.uri)}</code></small>"
        + (f"<br><small>metadata {shown}</small>" if shown else "")
        + "</div>"
    )
    text_size = f" {human_size(a.size)}" if a.size is not None else ""
    return html_bundle(html, f"{a.name} [{a.type}]{text_size} {a.uri}")


_CHART_TYPES = (
    "system.Metrics",
    "system.ClassificationMetrics",
    "system.SlicedClassificationMetrics",
)


def _unreadable(a: ArtifactView, exc: Exception) -> Bundle:
    message = f"content of {a.name} unavailable: {exc}"
    return html_bundle(f'<i style="color:#c62828">{escape(message)}</i>', message)


def dataset_bundle(a: ArtifactView, limit: int = PREVIEW_ROWS) -> Bundle:
    """The first rows as a table: pandas when installed, else the csv module."""
    try:
        import pandas as pd  # type: ignore[import-untyped,unused-ignore]

        text = a.preview_text()
        sep = "\t" if "\t" in text.split("\n", 1)[0] else ","
        frame = pd.read_csv(io.StringIO(text), nrows=limit, sep=sep)
        return html_bundle(frame.to_html(index=False), frame.to_string(index=False))
    except (ImportError, ValueError):  # no pandas, or not a table pandas reads: csv rows
        header, rows = a.head_rows(limit)
        body = table(header, ([escape(c) for c in r] for r in rows))
        text = "\n".join(",".join(r) for r in [header, *rows])
        return html_bundle(body, text)


def iframe_html(document: str, height: int = 320) -> str:
    """``document`` in a sandboxed iframe: no scripts, no forms, an opaque origin."""
    return (
        f'<iframe sandbox="" srcdoc="{escape(document, quote=True)}" '
        f'style="width:100%;height:{height}px;border:1px solid #ddd;background:white">'
        "</iframe>"
    )


def markdown_bundle(text: str) -> Bundle:
    """A Markdown report as sanitized HTML (its source as the text/plain fallback)."""
    return html_bundle(f'<div class="dsp-markdown">{markdown_html(text)}</div>', text)


def artifact_bundles(a: ArtifactView) -> list[Bundle]:
    """Header line, then the artifact's rendering (chart, table, Markdown, HTML or rows)."""
    out = [_header(a)]
    title = f"{a.task}.{a.name}" if a.task else a.name
    if a.type == "system.Metrics":
        metrics = a.metrics
        if metrics:
            out.extend(metrics_bundles(metrics, title))
        return out
    if a.type == "system.ClassificationMetrics":
        out.extend(classification_bundles(a.metadata, title))
        return out
    if a.type == "system.SlicedClassificationMetrics":
        for item in a.metadata.get("evaluationSlices") or []:
            inner = item.get("sliceClassificationMetrics") or {}
            out.extend(classification_bundles(inner, f"{title} [{item.get('slice', '?')}]"))
        return out
    if a.type not in ("system.Markdown", "system.HTML", *DATASET_TYPES):
        return out
    try:
        if a.type == "system.Markdown":
            text = a.preview_bytes().decode("utf-8", errors="replace")
            out.append(markdown_bundle(text))
        elif a.type == "system.HTML":
            text = a.preview_bytes().decode("utf-8", errors="replace")
            out.append(html_bundle(iframe_html(text), f"(HTML report, {len(text)} characters)"))
        else:
            out.append(dataset_bundle(a))
    except Exception as exc:  # content is a bonus: a failing read shows why, never a traceback
        out.append(_unreadable(a, exc))
    return out


def artifact_bundle(a: ArtifactView) -> Bundle:
    """One bundle: the artifact's main picture when it has one, else its header and content."""
    bundles = artifact_bundles(a)
    for bundle in bundles:
        if charts.VEGALITE_MIME in bundle:
            return bundle
    return joined(bundles)


# ---- outputs, tasks, runs --------------------------------------------------------------------


def outputs_bundles(o: OutputsView) -> list[Bundle]:
    out: list[Bundle] = []
    if o.parameters:
        out.append(parameters_bundle(o.parameters, f"{o.title}: parameters"))
    for artifact in o.all_artifacts():
        out.extend(artifact_bundles(artifact))
    if not out:
        out.append(html_bundle(f"<i>no {escape(o.title)}</i>", f"(no {o.title})"))
    return out


def outputs_bundle(o: OutputsView) -> Bundle:
    return joined(outputs_bundles(o))


def _task_header(t: TaskView) -> Bundle:
    cached = " <small>(cached)</small>" if t.cached else ""
    return html_bundle(
        f"<h4 style='margin:10px 0 4px'>{escape(t.label)} {badge(t.state)}{cached}</h4>",
        f"== {t.label}  {t.state}{' (cached)' if t.cached else ''}",
    )


def task_bundles(t: TaskView, with_inputs: bool = True) -> list[Bundle]:
    out = [_task_header(t)]
    if with_inputs and (t.inputs.parameters or t.inputs.artifacts):
        out.append(
            parameters_bundle(t.inputs.parameters, "inputs")
            if t.inputs.parameters
            else html_bundle("", "")
        )
        for artifact in t.inputs.all_artifacts():
            out.append(_header(artifact))
    out.extend(outputs_bundles(t.outputs))
    return [b for b in out if b.get("text/plain") or b.get("text/html")]


def task_bundle(t: TaskView) -> Bundle:
    return joined(task_bundles(t))


def _run_header(r: RunView) -> Bundle:
    parts = [
        f"<b>Results of run</b> {escape(r.run_name)} {badge(r.state or 'UNKNOWN')} "
        f"<code>{escape(r.run_id)}</code> <small>from {escape(r.source or '-')}</small>"
    ]
    text = [f"Results of run {r.run_name} {r.state} {r.run_id} (from {r.source or '-'})"]
    if r.unavailable:
        parts.append(f'<br><span style="color:#c62828">{escape(r.unavailable)}</span>')
        text.append(f"  partly unavailable: {r.unavailable}")
    ui_url = safe_url(r.ui_url)
    if ui_url:
        parts.append(
            f'<br><a href="{escape(ui_url, quote=True)}" target="_blank" '
            f'rel="noopener noreferrer">open the run in the cluster UI</a>'
        )
        text.append(f"  cluster UI: {ui_url}")
    return html_bundle("<div>" + "".join(parts) + "</div>", "\n".join(text))


def run_bundles(r: RunView) -> list[Bundle]:
    """Header, pipeline outputs, then each task that has outputs (the first 60 in full)."""
    out = [_run_header(r)]
    if r.pipeline.parameters or r.pipeline.artifacts:
        out.extend(outputs_bundles(r.pipeline))
    with_outputs = [t for t in r.tasks if t.outputs.parameters or t.outputs.artifacts]
    for t in with_outputs[:MAX_TASKS_SHOWN]:
        out.append(_task_header(t))
        out.extend(outputs_bundles(t.outputs))
    rest = len(with_outputs) - MAX_TASKS_SHOWN
    if rest > 0:
        note = f"... and {rest} more tasks with outputs: results['TASK'] shows one"
        out.append(html_bundle(f"<i>{escape(note)}</i>", note))
    if not with_outputs and not r.pipeline:
        out.append(html_bundle("<i>No outputs recorded (yet).</i>", "No outputs recorded (yet)."))
    return out


def run_bundle(r: RunView) -> Bundle:
    return joined(run_bundles(r))


def run_summary_table(r: RunView) -> Bundle:
    """Every output parameter and metric of the run in one table (task, name, value)."""
    rows: list[list[str]] = []
    text: list[str] = []
    for t in r.tasks:
        values = {**t.outputs.parameters, **t.outputs.metrics}
        for name, value in values.items():
            rows.append(
                [escape(t.label), escape(name), f"<code>{escape(value_text(value))}</code>"]
            )
            text.append(f"  {t.label:24} {name:20} {value_text(value)}")
    return html_bundle(table(["task", "output", "value"], rows), "\n".join(text))
