"""What the client returns about pipelines: pipelines, versions, lists of records and the
connection, with rich HTML and plain-text renderings. Runs, tasks and logs are run_models.py's
(and importable from here too).

Each keeps the ``kfp_server_api`` object it came from as ``raw`` for anything not exposed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any, Generic, TypeVar

from jupyter_dsp.client import render
from jupyter_dsp.client.params import Parameter, root_parameters
from jupyter_dsp.client.run_models import (
    DONE_TASK_STATES,
    HTML_LOG_LIMIT,
    TERMINAL_STATES,
    LogChunk,
    Logs,
    LogWindow,
    Run,
    Task,
)
from jupyter_dsp.client.ui_links import UI_LINKS

__all__ = [
    "DONE_TASK_STATES",
    "HTML_LOG_LIMIT",
    "TERMINAL_STATES",
    "UI_LINKS",
    "ConnectionInfo",
    "LogChunk",
    "LogWindow",
    "Logs",
    "Pipeline",
    "PipelineVersion",
    "ResultList",
    "Run",
    "Task",
]


@dataclass
class PipelineVersion:
    """One version of a pipeline; ``space`` is ``"project"`` or ``"shared"``."""

    id: str
    pipeline_id: str
    name: str
    space: str
    description: str = ""
    created_at: dt.datetime | None = None
    spec: dict[str, Any] | None = field(default=None, repr=False)
    pipeline: Pipeline | None = field(default=None, repr=False)
    raw: Any = field(default=None, repr=False)
    ui_url: str | None = None  # its page in the cluster's UI (common/links.py)

    @classmethod
    def from_api(cls, obj: Any, space: str) -> PipelineVersion:
        links = UI_LINKS.get("links")
        return cls(
            ui_url=links.pipeline(obj.pipeline_id or "", obj.pipeline_version_id or "")
            if links
            else None,
            id=obj.pipeline_version_id or "",
            pipeline_id=obj.pipeline_id or "",
            name=obj.display_name or obj.name or "",
            space=space,
            description=obj.description or "",
            created_at=obj.created_at,
            spec=obj.pipeline_spec,
            raw=obj,
        )

    @property
    def parameters(self) -> dict[str, Parameter]:
        return root_parameters(self.spec or {})

    def _text(self) -> str:
        owner = f"{self.pipeline.name!r} " if self.pipeline else ""
        params = ", ".join(p.describe() for p in self.parameters.values()) or "none"
        return (
            f"Pipeline {owner}version {self.name!r} ({self.space})\n"
            f"  id: {self.id}  pipeline id: {self.pipeline_id}\n"
            f"  created: {render.when(self.created_at)}  parameters: {params}"
        )

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self._text())

    def _repr_html_(self) -> str:
        return render.version_html(self)


@dataclass
class Pipeline:
    """A pipeline in a space, with the versions fetched alongside it (newest first)."""

    id: str
    name: str
    space: str
    namespace: str = ""
    description: str = ""
    created_at: dt.datetime | None = None
    versions: list[PipelineVersion] = field(default_factory=list)
    raw: Any = field(default=None, repr=False)
    ui_url: str | None = None  # its page in the cluster's UI (common/links.py)
    # where a shared pipeline lives when the shared space has both: "catalog" | "managed"
    where: str = ""

    @classmethod
    def from_api(cls, obj: Any, space: str) -> Pipeline:
        links = UI_LINKS.get("links")
        return cls(
            ui_url=links.pipeline(obj.pipeline_id or "") if links else None,
            id=obj.pipeline_id or "",
            name=obj.display_name or obj.name or "",
            space=space,
            namespace=obj.namespace or "",
            description=obj.description or "",
            created_at=obj.created_at,
            raw=obj,
        )

    @property
    def latest(self) -> PipelineVersion | None:
        return self.versions[0] if self.versions else None

    @property
    def managed(self) -> bool:
        """A pipeline the platform manages (KFP tag managed=true): read-only, forkable."""
        return str((getattr(self.raw, "tags", None) or {}).get("managed", "")).lower() == "true"

    def _text(self) -> str:
        where = "shared, managed by the platform" if self.managed else self.space
        if self.where == "catalog":
            where = "shared, catalog"
        lines = [f"Pipeline {self.name!r} ({where})  id: {self.id}"]
        if self.description:
            lines.append(f"  {self.description}")
        for v in self.versions:
            lines.append(f"  - {v.name}  {render.when(v.created_at)}  {v.id}")
        return "\n".join(lines)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self._text())

    def _repr_html_(self) -> str:
        return render.pipeline_html(self)


T = TypeVar("T", Pipeline, Run, PipelineVersion)


class ResultList(Sequence[T], Generic[T]):
    """A list of pipelines, versions or runs that renders as one table."""

    def __init__(self, items: list[T], title: str = "") -> None:
        self._items: list[T] = list(items)
        self.title = title

    def __getitem__(self, index: Any) -> Any:
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[T]:
        return iter(self._items)

    def __repr__(self) -> str:
        return f"ResultList({self.title!r}, {len(self)} items)"

    def by_name(self, name: str) -> T | None:
        for item in self._items:
            if getattr(item, "name", None) == name:
                return item
        return None

    def _text(self) -> str:
        return render.list_text(self.title, self._items)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self._text())

    def _repr_html_(self) -> str:
        return render.list_html(self.title, self._items)


@dataclass
class ConnectionInfo:
    """What the client is connected to (no token, ever)."""

    mode: str
    namespace: str
    identity: str
    policy: str
    project_endpoint: str
    shared_endpoint: str | None
    healthy: bool
    error: str | None = None

    def _text(self) -> str:
        shared = self.shared_endpoint or f"off ({self.policy})"
        state = "healthy" if self.healthy else f"UNREACHABLE: {self.error}"
        return (
            f"DSP {self.mode}: namespace {self.namespace!r} as {self.identity or '-'} [{state}]\n"
            f"  project: {self.project_endpoint}\n  shared:  {shared} (policy {self.policy})"
        )

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self._text())

    def _repr_html_(self) -> str:
        return f"<pre>{escape(self._text())}</pre>"
