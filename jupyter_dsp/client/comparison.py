"""Several runs side by side: their parameters, output values and metrics, differences marked,
and a chart of each metric across the runs (one Vega-Lite spec per metric)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from jupyter_dsp.client import charts
from jupyter_dsp.client.outputs import RunResults
from jupyter_dsp.client.render import badge, clipped
from jupyter_dsp.client.render_results import Bundle, chart_bundle, display_bundles, html_bundle
from jupyter_dsp.common.display import value_text

_MISSING = object()
_DIFF = "background:#fff3cd"
_CELL = "padding:2px 8px;text-align:left;border-bottom:1px solid #ddd"


@dataclass
class ComparedRun:
    run_id: str
    name: str
    state: str
    parameters: dict[str, Any]
    outputs: dict[str, Any]
    metrics: dict[str, float]


def _cell(value: Any) -> str:
    if value is _MISSING:
        return "-"
    return value_text(value)


class Comparison:
    """``.parameters`` / ``.outputs`` / ``.metrics``: name -> {run label: value};
    ``.differences``: the parameter and output names whose values differ;
    ``.to_dataframe()`` one column per run (pandas)."""

    def __init__(self, runs: Sequence[ComparedRun]) -> None:
        self.runs = list(runs)
        labels = [r.name or r.run_id for r in self.runs]
        # two runs of the same name: tell them apart by their id
        self.labels = [
            f"{label} ({r.run_id[:8]})" if labels.count(label) > 1 else label
            for label, r in zip(labels, self.runs, strict=True)
        ]
        self.parameters = self._table("parameters")
        self.outputs = self._table("outputs")
        self.metrics = self._table("metrics")

    @classmethod
    def from_results(cls, pairs: Sequence[tuple[Any, RunResults]]) -> Comparison:
        """From ``(Run, RunResults)`` pairs: run parameters, pipeline outputs, metrics."""
        runs = []
        for run, results in pairs:
            outputs = dict(results.pipeline.parameters)
            runs.append(
                ComparedRun(
                    run_id=run.id,
                    name=run.name,
                    state=run.state,
                    parameters={**getattr(run, "defaults", {}), **run.parameters},  # as run
                    outputs=outputs,
                    metrics=results.metrics,
                )
            )
        return cls(runs)

    def _table(self, kind: str) -> dict[str, dict[str, Any]]:
        names: dict[str, None] = {}
        for r in self.runs:
            names.update(dict.fromkeys(getattr(r, kind)))
        return {
            name: {
                label: getattr(r, kind).get(name, _MISSING)
                for label, r in zip(self.labels, self.runs, strict=True)
            }
            for name in sorted(names)
        }

    @staticmethod
    def _differs(values: dict[str, Any]) -> bool:
        return len({json.dumps(v, sort_keys=True, default=str) for v in values.values()}) > 1

    @property
    def differences(self) -> list[str]:
        return [
            name
            for table in (self.parameters, self.outputs, self.metrics)
            for name, values in table.items()
            if self._differs(values)
        ]

    def to_dataframe(self) -> Any:
        import pandas as pd  # type: ignore[import-untyped,unused-ignore]

        rows = {}
        for kind in ("parameters", "outputs", "metrics"):
            for name, values in getattr(self, kind).items():
                rows[(kind, name)] = {k: (None if v is _MISSING else v) for k, v in values.items()}
        return pd.DataFrame.from_dict(rows, orient="index", columns=self.labels)

    # ---- rendering -------------------------------------------------------------------------

    def table_bundle(self) -> Bundle:
        head = "".join(
            f'<th style="{_CELL}">{clipped(label, "14em")}</th>' for label in self.labels
        )
        states = "".join(f'<td style="{_CELL}">{badge(r.state)}</td>' for r in self.runs)
        body = [f'<tr><th style="{_CELL}">state</th>{states}</tr>']
        text = ["".ljust(28) + " | ".join(self.labels)]
        for kind in ("parameters", "outputs", "metrics"):
            table = getattr(self, kind)
            if not table:
                continue
            body.append(
                f'<tr><th colspan="{len(self.runs) + 1}" style="{_CELL};background:#f5f5f5">'
                f"{kind}</th></tr>"
            )
            text.append(f"-- {kind}")
            for name, values in table.items():
                differs = self._differs(values)
                style = f"{_CELL};{_DIFF}" if differs else _CELL
                cells = "".join(
                    f'<td style="{style}">{escape(_cell(v))}</td>' for v in values.values()
                )
                marker = ' title="differs between the runs"' if differs else ""
                body.append(
                    f'<tr data-differs="{str(differs).lower()}"><th style="{style}"{marker}>'
                    f"{escape(name)}</th>{cells}</tr>"
                )
                mark = "*" if differs else " "
                text.append(
                    f"{mark} {name[:26]:26} " + " | ".join(_cell(v) for v in values.values())
                )
        html = (
            f"<div><b>Comparing {len(self.runs)} runs</b> "
            f'<small>(<span style="{_DIFF}">highlighted</span>: differs)</small>'
            f'<table style="border-collapse:collapse;font-size:0.9em"><thead><tr>'
            f'<th style="{_CELL}"></th>{head}</tr></thead><tbody>{"".join(body)}</tbody>'
            "</table></div>"
        )
        return html_bundle(html, "\n".join(text) + "\n(* differs)")

    def metric_specs(self) -> dict[str, dict[str, Any]]:
        """One Vega-Lite spec per metric: a bar per run."""
        specs = {}
        for name, values in self.metrics.items():
            points = [{"run": k, "value": v} for k, v in values.items() if v is not _MISSING]
            specs[name] = charts.compare_metric(name, points)
        return specs

    def bundles(self) -> list[Bundle]:
        out = [self.table_bundle()]
        for name, spec in self.metric_specs().items():
            values = {k: v for k, v in self.metrics[name].items() if v is not _MISSING}
            text = f"{name}: " + ", ".join(f"{k}={v:.6g}" for k, v in values.items())
            out.append(chart_bundle(spec, charts.bars_svg(values), text))
        return out

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Bundle:
        return self.table_bundle()

    def _ipython_display_(self) -> None:
        display_bundles(self.bundles())

    def __repr__(self) -> str:
        return f"Comparison({', '.join(self.labels)})"
