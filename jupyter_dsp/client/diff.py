"""``%dsp diff`` / ``client.diff``: what changed between two versions of a pipeline.

The comparison itself is :func:`jupyter_dsp.common.spec_diff.diff_specs` (shared with the
server's ``dsp/diff``); this module picks the versions and renders the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from typing import Any

from jupyter_dsp.client.errors import ArgumentError
from jupyter_dsp.client.models import PipelineVersion
from jupyter_dsp.common.spec_diff import diff_specs

_STATUS_COLOURS = {
    "added": "#2e7d32",
    "removed": "#c62828",
    "changed": "#ef6c00",
    "same": "#757575",
}


@dataclass
class VersionDiff:
    """The changes from ``old`` to ``new``; ``result`` is the diff_specs JSON."""

    pipeline: str
    old: PipelineVersion
    new: PipelineVersion
    result: dict[str, Any] = field(repr=False)

    @property
    def changed(self) -> bool:
        return bool(self.result["changed"])

    @property
    def summary(self) -> list[str]:
        return list(self.result["summary"])

    @property
    def parameters(self) -> dict[str, Any]:
        return self.result["parameters"]

    @property
    def components(self) -> dict[str, Any]:
        return self.result["components"]

    @property
    def dag(self) -> dict[str, Any]:
        return self.result["dag"]

    def _text(self) -> str:
        head = f"Pipeline {self.pipeline!r}: {self.old.name} -> {self.new.name}"
        if not self.changed:
            return head + "\n  no differences"
        lines = [head, *(f"  {line}" for line in self.summary)]
        for comp in self.components["changed"]:
            if comp["code_diff"]:
                lines.append("")
                lines.extend(comp["code_diff"].rstrip("\n").splitlines())
        marks = {"added": "+", "removed": "-", "changed": "~", "same": " "}
        lines.append("")
        lines.append(
            "  tasks (new version): "
            + ", ".join(f"{marks[n['status']]}{n['id']}" for n in self.dag["new"]["nodes"])
        )
        return "\n".join(lines)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self._text())

    def _repr_html_(self) -> str:
        head = (
            f"<b>Pipeline</b> {escape(self.pipeline)}: <b>{escape(self.old.name)}</b> &rarr; "
            f"<b>{escape(self.new.name)}</b>"
        )
        if not self.changed:
            return f"<div>{head}<br><i>no differences</i></div>"
        items = "".join(f"<li>{escape(line)}</li>" for line in self.summary)
        code = "".join(
            f"<details><summary>code of {escape(c.get('label') or c['name'])}</summary>"
            f'<pre style="font-size:0.85em">{_diff_html(c["code_diff"])}</pre></details>'
            for c in self.components["changed"]
            if c["code_diff"]
        )
        sides = "".join(
            f'<td style="vertical-align:top;padding-right:24px"><b>{escape(title)}</b><br>'
            + "<br>".join(
                f'<span style="color:{_STATUS_COLOURS[n["status"]]}">'
                f"{escape(n['id'])}</span> <small>{escape(n['status'])}</small>"
                for n in self.dag[side]["nodes"]
            )
            + "</td>"
            for side, title in (("old", self.old.name), ("new", self.new.name))
        )
        return f"<div>{head}<ul>{items}</ul>{code}<table><tr>{sides}</tr></table></div>"


def _diff_html(text: str) -> str:
    out = []
    for line in text.splitlines():
        colour = "#2e7d32" if line.startswith("+") else "#c62828" if line.startswith("-") else ""
        styled = escape(line)
        out.append(f'<span style="color:{colour}">{styled}</span>' if colour else styled)
    return "\n".join(out)


def version_diff(
    client: Any, pipeline: str, v1: str | None, v2: str | None, space: str | None = None
) -> VersionDiff:
    """Compare versions ``v1`` and ``v2`` (names or ids) of ``pipeline``; neither: the two
    newest (older first)."""
    if bool(v1) != bool(v2):
        raise ArgumentError("Give two versions (V1 V2), or none to compare the two newest.")
    found = client.find_pipeline(pipeline, space)
    if v1 and v2:
        old, new = client._pick_version(found, v1), client._pick_version(found, v2)
    else:
        if len(found.versions) < 2:
            raise ArgumentError(
                f"Pipeline {found.name!r} has {len(found.versions)} version(s): upload another"
                " to compare, or name two versions."
            )
        new, old = found.versions[0], found.versions[1]
    for version in (old, new):
        if version.spec is None:
            version.spec = client._version_spec(version)
    return VersionDiff(found.name, old, new, diff_specs(old.spec, new.spec))
