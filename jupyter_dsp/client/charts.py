"""Vega-Lite v5 specs of run results, one spec per chart, and small SVG fallbacks of the same.

The same spec is shown by the kernel (a MIME bundle) and by the panel (JupyterLab's Vega
renderer); labextension/src/results/resultsModel.ts builds identical specs in TypeScript.
Data is inline (``data.values``) so a spec stands alone in a saved notebook.
"""

from __future__ import annotations

import math
from html import escape
from typing import Any

VEGALITE_MIME = "application/vnd.vegalite.v5+json"
SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
_BLUE = "#1565c0"


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def scalar_metrics(metadata: dict[str, Any]) -> dict[str, float]:
    """The numeric entries of a ``system.Metrics`` artifact's metadata (``display_name`` etc.
    are not metrics)."""
    found: dict[str, float] = {}
    for key, value in metadata.items():
        number = _finite(value)
        if number is not None:
            found[str(key)] = number
    return found


def _bars(
    title: str, values: list[dict[str, Any]], category: str, width: int, axis: str
) -> dict[str, Any]:
    """Horizontal bars, one per ``category`` value (in the given order), of length ``value``."""
    return {
        "$schema": SCHEMA,
        "title": title,
        "data": {"values": values},
        "width": width,
        "height": {"step": 22},
        "encoding": {
            "y": {"field": category, "type": "nominal", "sort": None, "title": None},
            "x": {"field": "value", "type": "quantitative", "title": axis},
        },
    }


def metrics_bar(metrics: dict[str, float], title: str = "metrics") -> dict[str, Any]:
    """One horizontal bar per metric, the value written at its end."""
    values = [{"metric": k, "value": v} for k, v in metrics.items()]
    spec = _bars(title, values, "metric", 320, "value")
    spec["layer"] = [
        {"mark": {"type": "bar", "color": _BLUE}},
        {
            "mark": {"type": "text", "align": "left", "dx": 3},
            "encoding": {"text": {"field": "value", "type": "quantitative", "format": ".4~g"}},
        },
    ]
    return spec


def confusion_labels_counts(matrix: dict[str, Any]) -> tuple[list[str], list[list[float]]]:
    """Labels and count rows of a KFP ``confusionMatrix`` struct."""
    labels = [str(s.get("displayName", i)) for i, s in enumerate(matrix.get("annotationSpecs", []))]
    rows = [[float(c) for c in (r.get("row") or [])] for r in matrix.get("rows", [])]
    return labels, rows


def confusion_heatmap(matrix: dict[str, Any], title: str = "confusion matrix") -> dict[str, Any]:
    """A heatmap of actual (rows) against predicted (columns), each cell labelled with its count."""
    labels, rows = confusion_labels_counts(matrix)
    values: list[dict[str, Any]] = [
        {
            "actual": labels[i] if i < len(labels) else str(i),
            "predicted": labels[j] if j < len(labels) else str(j),
            "count": count,
        }
        for i, row in enumerate(rows)
        for j, count in enumerate(row)
    ]
    top = max((v["count"] for v in values), default=0)
    order = labels or None
    return {
        "$schema": SCHEMA,
        "title": title,
        "data": {"values": values},
        "width": {"step": 48},
        "height": {"step": 48},
        "encoding": {
            "x": {
                "field": "predicted",
                "type": "nominal",
                "sort": order,
                "axis": {"orient": "top"},
            },
            "y": {"field": "actual", "type": "nominal", "sort": order},
        },
        "layer": [
            {
                "mark": "rect",
                "encoding": {
                    "color": {
                        "field": "count",
                        "type": "quantitative",
                        "scale": {"scheme": "blues"},
                        "legend": None,
                    }
                },
            },
            {
                "mark": {"type": "text", "fontSize": 13},
                "encoding": {
                    "text": {"field": "count", "type": "quantitative", "format": "~g"},
                    "color": {
                        "condition": {"test": f"datum.count > {top / 2!r}", "value": "white"},
                        "value": "black",
                    },
                },
            },
        ],
    }


def roc_points(confidence: list[dict[str, Any]]) -> list[dict[str, float]]:
    """``(falsePositiveRate, recall, threshold)`` points sorted by false positive rate."""
    points = []
    for item in confidence:
        fpr = _finite(item.get("falsePositiveRate"))
        recall = _finite(item.get("recall"))
        if fpr is None or recall is None:
            continue
        threshold = _finite(item.get("confidenceThreshold"))
        points.append({"fpr": fpr, "recall": recall, "threshold": threshold or 0.0})
    points.sort(key=lambda p: (p["fpr"], p["recall"]))
    return points


def roc_curve(confidence: list[dict[str, Any]], title: str = "ROC curve") -> dict[str, Any]:
    """Recall (true positive rate) against false positive rate, with the chance diagonal."""
    return {
        "$schema": SCHEMA,
        "title": title,
        "width": 300,
        "height": 300,
        "layer": [
            {
                "data": {"values": [{"fpr": 0, "recall": 0}, {"fpr": 1, "recall": 1}]},
                "mark": {"type": "line", "strokeDash": [4, 4], "color": "#9e9e9e"},
                "encoding": {
                    "x": {"field": "fpr", "type": "quantitative"},
                    "y": {"field": "recall", "type": "quantitative"},
                },
            },
            {
                "data": {"values": roc_points(confidence)},
                "mark": {"type": "line", "point": True, "color": _BLUE},
                "encoding": {
                    "x": {
                        "field": "fpr",
                        "type": "quantitative",
                        "title": "false positive rate",
                        "scale": {"domain": [0, 1]},
                    },
                    "y": {
                        "field": "recall",
                        "type": "quantitative",
                        "title": "true positive rate (recall)",
                        "scale": {"domain": [0, 1]},
                    },
                    "tooltip": [
                        {"field": "threshold", "type": "quantitative"},
                        {"field": "fpr", "type": "quantitative"},
                        {"field": "recall", "type": "quantitative"},
                    ],
                },
            },
        ],
    }


def compare_metric(metric: str, values: list[dict[str, Any]]) -> dict[str, Any]:
    """One metric across runs: ``values`` are ``{"run": name, "value": number}``."""
    spec = _bars(metric, values, "run", 260, metric)
    spec["mark"] = {"type": "bar", "color": _BLUE}
    spec["encoding"]["tooltip"] = [{"field": "run"}, {"field": "value", "type": "quantitative"}]
    return spec


# ---- SVG fallbacks (static pictures for front-ends without a Vega renderer) -----------------


def _svg(width: int, height: int, body: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">{body}</svg>'
    )


def bars_svg(metrics: dict[str, float]) -> str:
    label_w, bar_w, row = 140, 220, 20
    top = max((abs(v) for v in metrics.values()), default=0) or 1.0
    parts = []
    for i, (name, value) in enumerate(metrics.items()):
        y = i * row
        length = bar_w * abs(value) / top
        parts.append(
            f'<text x="{label_w - 4}" y="{y + 14}" text-anchor="end">{escape(name[:22])}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{length:.1f}" height="{row - 6}" '
            f'fill="{_BLUE}"/><text x="{label_w + length + 3:.1f}" y="{y + 14}">{value:.4g}</text>'
        )
    return _svg(label_w + bar_w + 60, max(len(metrics), 1) * row, "".join(parts))


def heatmap_svg(matrix: dict[str, Any]) -> str:
    labels, rows = confusion_labels_counts(matrix)
    n = max(len(rows), len(labels), 1)
    cell, pad = 44, 90
    top = max((c for r in rows for c in r), default=0) or 1.0
    parts = []
    for j in range(n):
        name = escape(labels[j] if j < len(labels) else str(j))
        parts.append(
            f'<text x="{pad + j * cell + cell / 2}" y="{pad - 6}" '
            f'text-anchor="middle">{name}</text>'
        )
        parts.append(
            f'<text x="{pad - 6}" y="{pad + j * cell + cell / 2 + 4}" '
            f'text-anchor="end">{name}</text>'
        )
    for i, row in enumerate(rows):
        for j, count in enumerate(row):
            shade = count / top
            fill = f"rgb({int(255 - 200 * shade)},{int(255 - 150 * shade)},255)"
            ink = "white" if shade > 0.5 else "black"
            x, y = pad + j * cell, pad + i * cell
            parts.append(
                f'<rect x="{x}" y="{y}" width="{cell}" height="{cell}" fill="{fill}" '
                f'stroke="white"/><text x="{x + cell / 2}" y="{y + cell / 2 + 4}" '
                f'text-anchor="middle" fill="{ink}">{count:g}</text>'
            )
    parts.append(
        f'<text x="{pad}" y="12">predicted &#8594;</text>'
        f'<text x="4" y="{pad + 12}">actual &#8595;</text>'
    )
    return _svg(pad + n * cell + 4, pad + n * cell + 4, "".join(parts))


def roc_svg(confidence: list[dict[str, Any]]) -> str:
    size, pad = 240, 30
    points = roc_points(confidence)
    path = " ".join(
        f"{pad + p['fpr'] * size:.1f},{pad + (1 - p['recall']) * size:.1f}" for p in points
    )
    body = (
        f'<rect x="{pad}" y="{pad}" width="{size}" height="{size}" fill="none" stroke="#888"/>'
        f'<line x1="{pad}" y1="{pad + size}" x2="{pad + size}" y2="{pad}" stroke="#9e9e9e" '
        f'stroke-dasharray="4 4"/><polyline points="{path}" fill="none" stroke="{_BLUE}" '
        f'stroke-width="2"/><text x="{pad + size / 2}" y="{pad + size + 20}" '
        f'text-anchor="middle">false positive rate</text><text x="{pad - 8}" y="{pad - 10}">'
        "recall</text>"
    )
    return _svg(size + pad * 2, size + pad * 2, body)
