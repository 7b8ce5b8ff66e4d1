"""What the client returns about runs: runs, their tasks, and their logs, with rich HTML and
plain-text renderings. Pipelines and versions are models.py's.

Each run and task keeps the ``kfp_server_api`` object it came from as ``raw``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from html import escape
from typing import TYPE_CHECKING, Any

from jupyter_dsp.client import render
from jupyter_dsp.client.errors import DSPError
from jupyter_dsp.client.params import root_parameters
from jupyter_dsp.client.ui_links import UI_LINKS

if TYPE_CHECKING:
    from jupyter_dsp.client.outputs import Outputs, RunResults

TERMINAL_STATES = frozenset({"SUCCEEDED", "FAILED", "SKIPPED", "CANCELED"})
DONE_TASK_STATES = frozenset({"SUCCEEDED", "FAILED", "SKIPPED", "CANCELED", "CACHED"})


def _state(value: Any) -> str:
    return str(value or "RUNTIME_STATE_UNSPECIFIED").upper()


@dataclass
class Task:
    """One task (node) of a run."""

    id: str
    name: str
    state: str
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    parent_id: str = ""
    error: str = ""
    raw: Any = field(default=None, repr=False)
    run: Run | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_api(cls, obj: Any) -> Task:
        err = getattr(obj, "error", None)
        return cls(
            id=obj.task_id or "",
            name=obj.display_name or obj.task_id or "",
            state=_state(obj.state),
            started_at=obj.start_time or obj.create_time,
            finished_at=obj.end_time,
            parent_id=obj.parent_task_id or "",
            error=(getattr(err, "message", None) or "") if err else "",
            raw=obj,
        )

    @property
    def done(self) -> bool:
        return self.state in DONE_TASK_STATES

    @property
    def outputs(self) -> Outputs:
        """This task's output values and artifacts (``task.outputs["NAME"]``)."""
        if self.run is None:
            raise DSPError(f"Task {self.name!r} is not part of a fetched run.")
        found = self.run.outputs.task(self.id)
        if found is None:
            raise DSPError(f"Task {self.name!r} has recorded no results (yet).")
        return found.outputs


@dataclass
class Run:
    """A run in the project namespace."""

    id: str
    name: str
    state: str
    created_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    experiment_id: str = ""
    pipeline_id: str = ""
    version_id: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    tasks: list[Task] = field(default_factory=list)
    spec: dict[str, Any] | None = field(default=None, repr=False)
    raw: Any = field(default=None, repr=False)
    client: Any = field(default=None, repr=False, compare=False)  # set by the client's reads
    ui_url: str | None = None  # its page in the cluster's UI (common/links.py)
    _results: RunResults | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_api(cls, obj: Any) -> Run:
        ref = obj.pipeline_version_reference
        details = obj.run_details
        tasks = [Task.from_api(t) for t in (details.task_details or [])] if details else []
        runtime = obj.runtime_config
        err = obj.error
        run = cls(
            id=obj.run_id or "",
            name=obj.display_name or "",
            state=_state(obj.state),
            created_at=obj.created_at,
            finished_at=obj.finished_at,
            experiment_id=obj.experiment_id or "",
            pipeline_id=(ref.pipeline_id if ref else "") or "",
            version_id=(ref.pipeline_version_id if ref else "") or obj.pipeline_version_id or "",
            parameters=dict((runtime.parameters or {}) if runtime else {}),
            error=(err.message or "") if err else "",
            tasks=tasks,
            spec=obj.pipeline_spec,
            raw=obj,
        )
        links = UI_LINKS.get("links")
        if links is not None:
            run.ui_url = links.run(run.id, run.experiment_id)
        for task in tasks:
            task.run = run
        return run

    @property
    def done(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def outputs(self) -> RunResults:
        """Every task's outputs (``run.outputs["train"]["accuracy"]``), read through the client
        that fetched the run; kept once the run has ended."""
        if self._results is None or not self.done:
            if self.client is None:
                raise DSPError(
                    f"Run {self.id} was not read through a client: use client.get_run(...) "
                    "or `%dsp outputs RUN_ID`."
                )
            from jupyter_dsp.client.outputs import load_results

            self._results = load_results(self.client, self.id, run_name=self.name)
        return self._results

    @property
    def succeeded(self) -> bool:
        return self.state == "SUCCEEDED"

    @property
    def defaults(self) -> dict[str, Any]:
        """The declared defaults the run ran with for the parameters it was not given (known
        when its spec is: runs started or read one by one through a client)."""
        if not self.spec:
            return {}
        declared = root_parameters(self.spec)
        return {
            name: p.default
            for name, p in declared.items()
            if p.has_default and name not in self.parameters
        }

    def elapsed(self, now: dt.datetime | None = None) -> dt.timedelta | None:
        if self.created_at is None:
            return None
        end = self.finished_at if self.done and self.finished_at else None
        end = end or now or dt.datetime.now(dt.timezone.utc)
        start = self.created_at
        if start.tzinfo is None:
            start = start.replace(tzinfo=dt.timezone.utc)
        if end.tzinfo is None:
            end = end.replace(tzinfo=dt.timezone.utc)
        return max(end - start, dt.timedelta(0))

    def task(self, key: str) -> Task | None:
        """A task by id, or by name (a task of the root DAG first)."""
        for t in self.tasks:
            if t.id == key:
                return t
        named = [t for t in self.tasks if t.name == key]
        named.sort(key=lambda t: bool(t.parent_id))
        return named[0] if named else None

    def _text(self) -> str:
        lines = [
            f"Run {self.name!r}  {self.state}  id: {self.id}",
            f"  created: {render.when(self.created_at)}"
            f"  elapsed: {render.duration(self.elapsed())}",
        ]
        shown = render.parameter_values(self.parameters, self.defaults)
        if shown:
            lines.append(f"  parameters: {shown}")
        if self.error:
            lines.append(f"  error: {self.error}")
        for t in self.tasks:
            lines.append(f"  - {t.name:30} {t.state:12} {t.id}")
        return "\n".join(lines)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self._text())

    def _repr_html_(self) -> str:
        return render.run_html(self)


@dataclass
class LogChunk:
    """A slice of a task's log: ``text`` from the asked offset up to ``next_offset``."""

    text: str
    next_offset: int
    complete: bool
    size: int | None = None  # the whole log's size in bytes, when the stack says
    # False when the stack gave no usable next offset (not a number): the reader guessed it
    offset_given: bool = True


@dataclass
class LogWindow:
    """Part of one task's log: bytes ``start`` to ``end`` of ``size``."""

    text: str
    start: int
    end: int
    size: int
    complete: bool


# logs longer than this are shown as text/plain only (no second, HTML copy in the notebook)
HTML_LOG_LIMIT = 64 * 1024


@dataclass
class Logs:
    """Logs of one task or of a whole run (tasks in order, each under a header). Each task's
    log is bounded to its tail; ``skipped`` tells how many bytes before it were left out."""

    run_id: str
    text: str
    tasks: list[str] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.text

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self.text or "(no log output)")

    def _repr_html_(self) -> str | None:
        if len(self.text) > HTML_LOG_LIMIT:
            return None  # text/plain only: a saved notebook keeps one copy of a long log
        body = escape(self.text) if self.text else "<i>(no log output)</i>"
        return f'<pre style="max-height:30em;overflow:auto;font-size:0.85em">{body}</pre>'
