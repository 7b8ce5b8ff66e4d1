"""Run results in ipywidgets: a table of each ended task's outputs, and one task's inputs,
outputs and artifacts in an Output widget holding the same MIME bundles as ``%dsp outputs``
(Vega-Lite charts, Markdown rendered and sanitized as HTML, HTML reports in a sandboxed iframe,
dataset rows; every name and value escaped).

Outputs are set through ``Output.outputs`` (not ``with output:``), so the RunMonitor's polling
thread can update them.
"""

from __future__ import annotations

import threading
from html import escape
from typing import Any

import ipywidgets as widgets

from jupyter_dsp.client import DSPError
from jupyter_dsp.client.outputs import RunResults, TaskResult, load_results
from jupyter_dsp.client.render import badge, table
from jupyter_dsp.client.render_results import Bundle, task_bundles, value_text

_DONE = frozenset({"SUCCEEDED", "FAILED", "SKIPPED", "CANCELED", "CACHED"})


def set_bundles(output: widgets.Output, bundles: list[Bundle]) -> None:
    """Replace what ``output`` shows with ``bundles`` (each a display_data output)."""
    output.outputs = tuple(
        {"output_type": "display_data", "data": bundle, "metadata": {}} for bundle in bundles
    )


def summary_html(results: RunResults) -> str:
    """One row per task that has ended with outputs: values, metrics, artifact names."""
    rows = []
    for t in results.tasks:
        if t.state not in _DONE or not (t.outputs.parameters or t.outputs.artifacts):
            continue
        values = ", ".join(
            f"{escape(k)} = <code>{escape(value_text(v))}</code>"
            for k, v in t.outputs.parameters.items()
        )
        metrics = ", ".join(f"{escape(k)} {v:.4g}" for k, v in t.outputs.metrics.items())
        arts = ", ".join(
            f"{escape(a.name)} <small>({escape(a.type.removeprefix('system.'))})</small>"
            for a in t.outputs.all_artifacts()
        )
        rows.append([escape(t.label), badge(t.state), values, metrics, arts])
    if not rows:
        return "<i>No task has ended with outputs yet.</i>"
    return "<b>Outputs</b>" + table(["task", "state", "values", "metrics", "artifacts"], rows)


class ResultsView(widgets.VBox):
    """Outputs of a run's ended tasks (updated as tasks end) and the chosen task in full."""

    def __init__(self, client: Any, run_id: str, run_name: str = "") -> None:
        self.client = client
        self.run_id = run_id
        self.run_name = run_name
        self.results: RunResults | None = None
        self.selected: str | None = None
        self._key: tuple[str, int] | None = None
        self._lock = threading.RLock()
        self.summary = widgets.HTML()
        self.detail = widgets.Output(layout=widgets.Layout(width="100%"))
        self.status = widgets.HTML()
        super().__init__([self.summary, self.detail, self.status])

    def update(self, run: Any, force: bool = False) -> RunResults | None:
        """Read the results again when a task ended since the last read (or ``force``)."""
        key = (run.state, sum(1 for t in run.tasks if t.state in _DONE))
        with self._lock:
            if key == self._key and not force:
                return self.results
            try:
                self.results = load_results(self.client, self.run_id, run_name=run.name)
            except (DSPError, LookupError, OSError) as exc:  # shown; the monitor goes on
                self.status.value = (
                    f'<span style="color:#c62828">outputs: {escape(str(exc))}</span>'
                )
                return self.results
            self._key = key
            self.status.value = (
                f'<span style="color:#c62828">{escape(self.results.unavailable)}</span>'
                if self.results.unavailable
                else ""
            )
            self.summary.value = summary_html(self.results)
            if self.selected is not None:
                self._show_selected()
            return self.results

    def show_task(self, name: str) -> TaskResult | None:
        """Show task ``name``'s inputs, outputs and artifacts (its charts, reports, rows)."""
        with self._lock:
            self.selected = name
            return self._show_selected()

    def _show_selected(self) -> TaskResult | None:
        task = self.results.task(self.selected) if self.results and self.selected else None
        if task is None:
            note = f"{self.selected}: no outputs recorded yet."
            set_bundles(self.detail, [{"text/plain": note, "text/html": f"<i>{escape(note)}</i>"}])
            return None
        set_bundles(self.detail, task_bundles(task))
        return task
