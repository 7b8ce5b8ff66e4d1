"""Records of the pipeline lifecycle: schedules (KFP recurring runs), experiments, and what a
delete removed. Each renders as HTML (notebook) and text (terminal, ``repr``)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from html import escape
from typing import Any

from jupyter_dsp.client import render
from jupyter_dsp.stack.naming import cron_as_typed, every_words, trigger_words


def _parse_time(value: Any) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    try:
        return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def describe_trigger(cron: str, interval_second: int) -> str:
    """``cron '0 6 * * *' (UTC), daily 06:00``: the cron as typed (KFP keeps 6 fields, seconds
    first; a 0 seconds field is dropped for display), in words when it has a common shape."""
    if cron:
        words = trigger_words(cron)
        plain = "" if words.startswith("cron ") else f", {words}"
        return f"cron {cron_as_typed(cron)!r} (UTC){plain}"
    return every_words(interval_second)


@dataclass
class Schedule:
    """A recurring run (KFP ``RecurringRun``) of the project namespace."""

    id: str
    name: str
    status: str  # ENABLED | DISABLED
    cron: str = ""
    interval_second: int = 0
    pipeline_id: str = ""
    version_id: str = ""  # "" = the newest version at each firing
    experiment_id: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    max_concurrency: int = 1
    catchup: bool = True
    start_time: dt.datetime | None = None
    end_time: dt.datetime | None = None
    created_at: dt.datetime | None = None
    next_fire_time: dt.datetime | None = None  # the embedded stack says; KFP does not
    error: str = ""
    raw: Any = field(default=None, repr=False)

    @classmethod
    def from_api(cls, obj: Any) -> Schedule:
        """From a ``kfp_server_api`` ``V2beta1RecurringRun`` or its JSON dict."""
        data = obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)
        trigger = data.get("trigger") or {}
        cron = trigger.get("cron_schedule") or {}
        periodic = trigger.get("periodic_schedule") or {}
        schedule = cron or periodic
        ref = data.get("pipeline_version_reference") or {}
        runtime = data.get("runtime_config") or {}
        error = data.get("error") or {}
        return cls(
            id=data.get("recurring_run_id") or "",
            name=data.get("display_name") or "",
            status=str(data.get("status") or "STATUS_UNSPECIFIED"),
            cron=cron.get("cron") or "",
            interval_second=int(periodic.get("interval_second") or 0),
            pipeline_id=ref.get("pipeline_id") or "",
            version_id=ref.get("pipeline_version_id") or data.get("pipeline_version_id") or "",
            experiment_id=data.get("experiment_id") or "",
            parameters=dict(runtime.get("parameters") or {}),
            max_concurrency=int(data.get("max_concurrency") or 1),
            catchup=not data.get("no_catchup"),
            start_time=_parse_time(schedule.get("start_time")),
            end_time=_parse_time(schedule.get("end_time")),
            created_at=_parse_time(data.get("created_at")),
            next_fire_time=_parse_time(data.get("next_fire_time")),
            error=(error.get("message") or "") if isinstance(error, dict) else "",
            raw=obj,
        )

    @property
    def enabled(self) -> bool:
        return self.status == "ENABLED"

    @property
    def what(self) -> str:
        """What each firing runs."""
        if not self.pipeline_id:
            return "an inline pipeline spec"
        version = f"version {self.version_id}" if self.version_id else "its newest version"
        return f"pipeline {self.pipeline_id}, {version}"

    @property
    def trigger(self) -> str:
        return describe_trigger(self.cron, self.interval_second)

    def _text(self) -> str:
        nxt = render.when(self.next_fire_time) if self.enabled else "-"
        params = json.dumps(self.parameters) if self.parameters else "none"
        lines = [
            f"Schedule {self.name!r} {self.status} ({self.id})",
            f"  {self.trigger}; next: {nxt}; max concurrency {self.max_concurrency};"
            f" catch-up {'on' if self.catchup else 'off'}",
            f"  {self.what}; parameters {params}",
        ]
        if self.error:
            lines.append(f"  last firing failed: {self.error}")
        return "\n".join(lines)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self._text())

    def _repr_html_(self) -> str:
        colour = "#2e7d32" if self.enabled else "#757575"
        badge = (
            f'<span style="background:{colour};color:white;border-radius:3px;padding:0 6px;'
            f'font-size:0.85em">{escape(self.status)}</span>'
        )
        nxt = render.when(self.next_fire_time) if self.enabled else "-"
        params = escape(json.dumps(self.parameters)) if self.parameters else "<i>none</i>"
        error = (
            f'<br><span style="color:#c62828">last firing failed: {escape(self.error)}</span>'
            if self.error
            else ""
        )
        return (
            f"<div><b>Schedule</b> {escape(self.name)} {badge} {render.code(self.id)}<br>"
            f"{escape(self.trigger)} &middot; next {escape(nxt)} &middot; max concurrency "
            f"{self.max_concurrency} &middot; catch-up {'on' if self.catchup else 'off'}<br>"
            f"runs {escape(self.what)} &middot; parameters {params}{error}</div>"
        )


@dataclass
class Experiment:
    """An experiment of the project namespace."""

    id: str
    name: str
    storage_state: str = "AVAILABLE"
    description: str = ""
    created_at: dt.datetime | None = None
    last_run_created_at: dt.datetime | None = None
    raw: Any = field(default=None, repr=False)

    @classmethod
    def from_api(cls, obj: Any) -> Experiment:
        data = obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)
        return cls(
            id=data.get("experiment_id") or "",
            name=data.get("display_name") or "",
            storage_state=str(data.get("storage_state") or "AVAILABLE"),
            description=data.get("description") or "",
            created_at=_parse_time(data.get("created_at")),
            last_run_created_at=_parse_time(data.get("last_run_created_at")),
            raw=obj,
        )

    @property
    def archived(self) -> bool:
        return self.storage_state == "ARCHIVED"

    def _text(self) -> str:
        flag = " (archived)" if self.archived else ""
        return (
            f"Experiment {self.name!r}{flag} ({self.id}); created {render.when(self.created_at)};"
            f" last run {render.when(self.last_run_created_at)}"
        )

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self._text())

    def _repr_html_(self) -> str:
        flag = " <i>(archived)</i>" if self.archived else ""
        return (
            f"<div><b>Experiment</b> {escape(self.name)}{flag} {render.code(self.id)}<br>"
            f"created {escape(render.when(self.created_at))} &middot; last run "
            f"{escape(render.when(self.last_run_created_at))}</div>"
        )


@dataclass
class Deleted:
    """What ``%dsp delete`` removed: ``kind`` is run, version or pipeline."""

    kind: str
    id: str
    name: str
    space: str = "project"
    versions: list[str] = field(default_factory=list)  # a pipeline's versions removed with it

    def _text(self) -> str:
        extra = f" and its {len(self.versions)} version(s)" if self.versions else ""
        return f"Deleted {self.kind} {self.name!r} ({self.id}){extra} from the {self.space} space."

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self._text())

    def _repr_html_(self) -> str:
        return f"<div>{escape(self._text())}</div>"


def lifecycle_list_html(title: str, items: list[Any]) -> str:
    """A table of schedules or experiments."""
    if items and isinstance(items[0], Schedule):
        rows = [
            [
                escape(s.name),
                escape(s.status),
                escape(s.trigger),
                escape(render.when(s.next_fire_time) if s.enabled else "-"),
                render.code(s.id),
            ]
            for s in items
        ]
        body = render.table(["schedule", "status", "trigger", "next", "id"], rows)
    else:
        rows = [
            [
                escape(e.name),
                "archived" if e.archived else "",
                escape(render.when(e.created_at)),
                escape(render.when(e.last_run_created_at)),
                render.code(e.id),
            ]
            for e in items
        ]
        body = render.table(["experiment", "", "created", "last run", "id"], rows)
    return f"<div><b>{escape(title)}</b> ({len(items)}){body if items else ''}</div>"


def lifecycle_list_text(title: str, items: list[Any]) -> str:
    lines = [f"{title} ({len(items)})"]
    for item in items:
        if isinstance(item, Schedule):
            nxt = render.when(item.next_fire_time) if item.enabled else "-"
            lines.append(f"  {item.name}  {item.status}  {item.trigger}  next {nxt}  {item.id}")
        else:
            flag = " (archived)" if item.archived else ""
            lines.append(f"  {item.name}{flag}  {item.id}")
    return "\n".join(lines)


class LifecycleList(list):  # type: ignore[type-arg]
    """A list of schedules or experiments that renders as one table."""

    def __init__(self, items: list[Any], title: str) -> None:
        super().__init__(items)
        self.title = title

    def by_name(self, name: str) -> Any:
        return next((item for item in self if item.name == name), None)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(lifecycle_list_text(self.title, list(self)))

    def _repr_html_(self) -> str:
        return lifecycle_list_html(self.title, list(self))
