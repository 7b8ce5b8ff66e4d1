"""HTML and text renderings shared by the client records, the magics and the widgets.

Plain HTML with inline styles only: it must look right in JupyterLab, classic Notebook and VS Code.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from html import escape
from typing import Any

from jupyter_dsp.client.safe_html import safe_url
from jupyter_dsp.common.display import quoted_text

STATE_COLOURS: dict[str, str] = {
    "SUCCEEDED": "#2e7d32",
    "CACHED": "#558b2f",
    "FAILED": "#c62828",
    "RUNNING": "#1565c0",
    "PENDING": "#757575",
    "SKIPPED": "#9e9e9e",
    "CANCELING": "#ef6c00",
    "CANCELED": "#ef6c00",
    "PAUSED": "#f9a825",
}
UNKNOWN_COLOUR = "#bdbdbd"
_TABLE = "border-collapse:collapse;font-size:0.9em"
_CELL = "padding:2px 8px;text-align:left;border-bottom:1px solid #ddd"


def state_colour(state: str) -> str:
    return STATE_COLOURS.get(state.upper(), UNKNOWN_COLOUR)


def when(value: dt.datetime | None) -> str:
    if value is None:
        return "-"
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc)
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(delta: dt.timedelta | None) -> str:
    if delta is None:
        return "-"
    seconds = int(delta.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{delta.total_seconds():.1f}s"


def badge(state: str) -> str:
    colour = state_colour(state)
    return (
        f'<span style="background:{colour};color:white;border-radius:3px;'
        f'padding:0 6px;font-size:0.85em">{escape(state)}</span>'
    )


def table(headers: list[str], rows: Iterable[list[str]]) -> str:
    head = "".join(f'<th style="{_CELL}">{escape(h)}</th>' for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td style="{_CELL}">{c}</td>' for c in row) + "</tr>" for row in rows
    )
    return f'<table style="{_TABLE}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def code(text: str) -> str:
    return f"<code>{escape(text)}</code>"


def params_html(parameters: dict[str, Any]) -> str:
    if not parameters:
        return "<i>none</i>"
    return ", ".join(escape(p.describe()) for p in parameters.values())


def compiled_html(pipeline: Any) -> str:
    where = f" &rarr; {code(str(pipeline.path))}" if pipeline.path else ""
    return (
        f"<div><b>Compiled pipeline</b> {escape(pipeline.name)}{where}<br>"
        f"tasks: {len(pipeline.task_names)} &middot; parameters: "
        f"{params_html(pipeline.parameters)}</div>"
    )


def version_html(version: Any) -> str:
    owner = escape(version.pipeline.name) + " " if version.pipeline else ""
    return (
        f"<div><b>Pipeline</b> {owner}<b>version</b> {escape(version.name)} "
        f"<small>({escape(version.space)})</small><br>"
        f"id {code(version.id)} &middot; pipeline {code(version.pipeline_id)} &middot; "
        f"created {escape(when(version.created_at))}<br>"
        f"parameters: {params_html(version.parameters)}{ui_link(version)}</div>"
    )


def ui_link(obj: Any) -> str:
    url = safe_url(getattr(obj, "ui_url", None))
    if not url:
        return ""
    link = (
        f'<a href="{escape(url, quote=True)}" target="_blank" rel="noopener noreferrer">'
        "open in the cluster UI</a>"
    )
    return f" &middot; {link}"


def pipeline_html(pipeline: Any) -> str:
    rows = [
        [escape(v.name), code(v.id), escape(when(v.created_at)), escape(v.description)]
        for v in pipeline.versions
    ]
    versions = table(["version", "id", "created", "description"], rows) if rows else ""
    desc = f"<br>{escape(pipeline.description)}" if pipeline.description else ""
    return (
        f"<div><b>Pipeline</b> {escape(pipeline.name)} <small>({escape(pipeline.space)})</small> "
        f"{code(pipeline.id)}{ui_link(pipeline)}{desc}{versions}</div>"
    )


def parameter_values(given: dict[str, Any], defaults: dict[str, Any]) -> str:
    """``a=3, b=0.5 (default)``: the values a run ran with, the declared defaults marked."""
    parts = [f"{name}={quoted_text(value)}" for name, value in given.items()]
    parts += [f"{name}={quoted_text(value)} (default)" for name, value in defaults.items()]
    return ", ".join(parts)


def run_html(run: Any) -> str:
    tasks = table(
        ["task", "state", "started", "id"],
        (
            [escape(t.name), badge(t.state), escape(when(t.started_at)), code(t.id)]
            for t in run.tasks
        ),
    )
    params = escape(parameter_values(run.parameters, run.defaults)) or "<i>none</i>"
    error = f'<br><span style="color:#c62828">{escape(run.error)}</span>' if run.error else ""
    return (
        f"<div><b>Run</b> {escape(run.name)} {badge(run.state)} {code(run.id)}{ui_link(run)}<br>"
        f"created {escape(when(run.created_at))} &middot; elapsed "
        f"{escape(duration(run.elapsed()))} &middot; parameters {params}{error}"
        f"{tasks if run.tasks else ''}</div>"
    )


def version_names(pipeline: Any, shown: int = 5) -> str:
    """The newest ``shown`` version names, then how many more there are."""
    names = [v.name for v in pipeline.versions]
    more = f" (+{len(names) - shown} more)" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def clipped(name: str, width: str = "24em") -> str:
    """``name`` on one line, cut with an ellipsis past ``width``; the full name on hover."""
    return (
        f'<span title="{escape(name)}" style="display:inline-block;max-width:{width};'
        'overflow:hidden;text-overflow:ellipsis;white-space:nowrap;vertical-align:bottom">'
        f"{escape(name)}</span>"
    )


def _row(item: Any) -> tuple[list[str], list[str]]:
    kind = type(item).__name__
    if kind == "Pipeline":
        versions = version_names(item)
        return (
            ["space", "pipeline", "versions", "id", "created"],
            [
                escape(space_label(item)),
                clipped(item.name),
                escape(versions),
                code(item.id),
                escape(when(item.created_at)),
            ],
        )
    if kind == "Run":
        return (
            ["run", "state", "created", "elapsed", "id"],
            [
                clipped(item.name),
                badge(item.state),
                escape(when(item.created_at)),
                escape(duration(item.elapsed())),
                code(item.id),
            ],
        )
    return (
        ["version", "id", "created", "description"],
        [
            clipped(item.name),
            code(item.id),
            escape(when(item.created_at)),
            escape(item.description),
        ],
    )


def list_html(title: str, items: list[Any]) -> str:
    heading = f"<b>{escape(title)}</b> ({len(items)})" if title else ""
    if not items:
        return f"<div>{heading}<br><i>nothing here</i></div>"
    headers = _row(items[0])[0]
    return f"<div>{heading}{table(headers, (_row(i)[1] for i in items))}</div>"


def list_text(title: str, items: list[Any]) -> str:
    lines = [f"{title} ({len(items)})" if title else f"{len(items)} items"]
    for item in items:
        kind = type(item).__name__
        if kind == "Pipeline":
            versions = version_names(item)
            space = space_label(item, text=True)
            lines.append(f"  [{space}] {item.name}  versions: {versions}  id: {item.id}")
        elif kind == "Run":
            lines.append(f"  {item.state:10} {item.name}  {when(item.created_at)}  id: {item.id}")
        else:
            lines.append(f"  {item.name}  {when(item.created_at)}  id: {item.id}")
    if not items:
        lines.append("  nothing here")
    return "\n".join(lines)


def space_label(item: Any, text: bool = False) -> str:
    """Where a pipeline lives: project, shared, shared (managed) or shared (catalog);
    ``text``: "shared, managed" (the plain-text list's form)."""
    where = "managed" if getattr(item, "managed", False) else getattr(item, "where", "")
    if not where:
        return str(item.space)
    return f"shared, {where}" if text else f"shared ({where})"
