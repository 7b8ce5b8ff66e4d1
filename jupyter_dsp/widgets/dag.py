"""The task graph of a run: nodes and edges from the pipeline spec, laid out in levels, as SVG.

Plain SVG in an HTML widget, so it shows in JupyterLab, classic Notebook and VS Code alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from html import escape
from typing import Any

from jupyter_dsp.client.render import UNKNOWN_COLOUR, state_colour

NODE_W = 150
NODE_H = 30
GAP_X = 40
GAP_Y = 24
PAD = 10


@dataclass
class Node:
    name: str  # the task's key in the DAG (edges refer to it)
    upstream: list[str] = field(default_factory=list)
    level: int = 0
    row: int = 0
    # what a run's task record calls it: taskInfo.name (``.set_display_name``) or the key;
    # the node's label and its state both come from the task record of that name
    label: str = ""

    def __post_init__(self) -> None:
        self.label = self.label or self.name


def _root_dag(spec: Mapping[str, Any] | None) -> Mapping[str, Any]:
    if not spec:
        return {}
    if "pipeline_spec" in spec and "root" not in spec:
        spec = spec["pipeline_spec"] or {}
    return ((spec.get("root") or {}).get("dag") or {}).get("tasks") or {}


def _upstream(task: Mapping[str, Any]) -> list[str]:
    found = list(task.get("dependentTasks") or [])
    inputs = (task.get("inputs") or {}).values()
    for group in inputs:
        for entry in (group or {}).values():
            for key in ("taskOutputParameter", "taskOutputArtifact"):
                producer = (entry.get(key) or {}).get("producerTask")
                if producer:
                    found.append(producer)
    return list(dict.fromkeys(found))


def graph_from_spec(spec: Mapping[str, Any] | None, extra: list[str] | None = None) -> list[Node]:
    """Nodes of the root DAG with their upstream tasks, levelled (sources at level 0).

    ``extra`` names (tasks a run reports that the root DAG does not list) are added unlinked.
    """
    tasks = _root_dag(spec)
    nodes = {
        name: Node(
            name,
            [u for u in _upstream(t) if u in tasks],
            label=str((t.get("taskInfo") or {}).get("name") or name),
        )
        for name, t in tasks.items()
    }
    for name in extra or []:
        nodes.setdefault(name, Node(name))
    levels: dict[str, int] = {}

    def level(name: str, seen: frozenset[str] = frozenset()) -> int:
        if name in levels:
            return levels[name]
        if name in seen:  # a cycle would be a broken spec; do not recurse forever
            return 0
        ups = nodes[name].upstream
        value = 0 if not ups else 1 + max(level(u, seen | {name}) for u in ups)
        levels[name] = value
        return value

    rows: dict[int, int] = {}
    for name in sorted(nodes, key=lambda n: (level(n), n)):
        node = nodes[name]
        node.level = level(name)
        node.row = rows.get(node.level, 0)
        rows[node.level] = node.row + 1
    return sorted(nodes.values(), key=lambda n: (n.level, n.row))


def _xy(node: Node) -> tuple[int, int]:
    return PAD + node.level * (NODE_W + GAP_X), PAD + node.row * (NODE_H + GAP_Y)


def render_svg(nodes: list[Node], states: Mapping[str, str], selected: str | None = None) -> str:
    """SVG of ``nodes``, each filled with the colour of its state (``states[label]``)."""
    if not nodes:
        return "<i>No tasks yet.</i>"
    width = PAD * 2 + (max(n.level for n in nodes) + 1) * (NODE_W + GAP_X) - GAP_X
    height = PAD * 2 + (max(n.row for n in nodes) + 1) * (NODE_H + GAP_Y) - GAP_Y
    by_name = {n.name: n for n in nodes}
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" style="font-family:sans-serif;font-size:11px">',
        '<defs><marker id="dsp-arrow" markerWidth="8" markerHeight="8" refX="8" refY="4" '
        'orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#888"/></marker></defs>',
    ]
    for node in nodes:
        x2, y2 = _xy(node)
        for up in node.upstream:
            if up not in by_name:
                continue
            x1, y1 = _xy(by_name[up])
            parts.append(
                f'<line x1="{x1 + NODE_W}" y1="{y1 + NODE_H // 2}" x2="{x2}" '
                f'y2="{y2 + NODE_H // 2}" stroke="#888" marker-end="url(#dsp-arrow)"/>'
            )
    for node in nodes:
        x, y = _xy(node)
        state = states.get(node.label, "PENDING")
        colour = state_colour(state) if state else UNKNOWN_COLOUR
        stroke = ' stroke="#000" stroke-width="2"' if node.label == selected else ""
        label = node.label if len(node.label) <= 22 else node.label[:21] + "…"
        parts.append(
            f"<g><title>{escape(node.label)}: {escape(state)}</title>"
            f'<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="5" '
            f'fill="{colour}"{stroke}/>'
            f'<text x="{x + NODE_W // 2}" y="{y + NODE_H // 2 + 4}" fill="white" '
            f'text-anchor="middle">{escape(label)}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)
