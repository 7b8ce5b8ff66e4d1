"""PipelineBrowser: Shared and Project tabs; upload, run (opens the form), fork, delete."""

from __future__ import annotations

from html import escape
from typing import Any

import ipywidgets as widgets

from jupyter_dsp.client import DSPClient, DSPError, Pipeline
from jupyter_dsp.client.compiling import is_pipeline_function
from jupyter_dsp.client.render import clipped, when
from jupyter_dsp.widgets.run_form import RunForm

SPACES = ("shared", "project")
_ERROR = "color:#c62828"


class PipelineRow(widgets.HBox):
    """One pipeline: name, a version picker and its actions."""

    def __init__(self, browser: PipelineBrowser, pipeline: Pipeline, writable: bool) -> None:
        self.pipeline = pipeline
        self.name = pipeline.name
        options = [(f"{v.name}  ({when(v.created_at)})", v.id) for v in pipeline.versions]
        self.version = widgets.Dropdown(
            options=options or [("(no version)", "")],
            layout=widgets.Layout(width="22em"),
        )
        where = "managed" if getattr(pipeline, "managed", False) else pipeline.where
        titles = {
            "managed": "managed by the platform: read-only, fork it to change it",
            "catalog": "in the shared catalog stack",
        }
        managed = (
            f' <span title="{titles.get(where, where)}" '
            'style="font-size:0.8em;border:1px solid #888;border-radius:3px;padding:0 3px">'
            f"{escape(where)}</span>"
            if where
            else ""
        )
        self.label = widgets.HTML(
            f"<b>{clipped(pipeline.name, '15em')}</b>{managed}<br>"
            f"<small>{escape(pipeline.description)}</small>",
            layout=widgets.Layout(width="16em"),
        )
        self.run_button = widgets.Button(description="Run", icon="play", button_style="primary")
        self.run_button.disabled = not pipeline.versions
        self.run_button.on_click(lambda _: browser.open_run_form(self))
        buttons: list[widgets.Widget] = [self.run_button]
        self.fork_button: widgets.Button | None = None
        if pipeline.space in ("shared", "managed"):
            self.fork_button = widgets.Button(description="Fork", icon="copy")
            self.fork_button.tooltip = "Copy this version into your project as a private pipeline"
            self.fork_button.on_click(lambda _: browser.fork(self))
            buttons.append(self.fork_button)
        self.delete_button = widgets.Button(description="Delete", icon="trash")
        self.delete_button.disabled = not writable or getattr(pipeline, "managed", False)
        self.delete_button.on_click(lambda _: browser.ask_delete(self))
        buttons.append(self.delete_button)
        super().__init__([self.label, self.version, *buttons])

    @property
    def selected_version(self) -> Any:
        for v in self.pipeline.versions:
            if v.id == self.version.value:
                return v
        return self.pipeline.latest


class PipelineBrowser(widgets.VBox):
    """Browse the shared space and the project's pipelines with their versions."""

    def __init__(
        self,
        client: DSPClient,
        *,
        user_ns: dict[str, Any] | None = None,
        poll_interval: float = 1.0,
    ) -> None:
        self.client = client
        self.poll_interval = poll_interval
        self._user_ns = user_ns
        self.rows: dict[str, list[PipelineRow]] = {space: [] for space in SPACES}
        self.lists = {space: widgets.VBox() for space in SPACES}
        self.tabs = widgets.Tab(children=[self.lists[s] for s in SPACES])
        self.tabs.titles = ("Shared", "Project")
        self.tabs.selected_index = 1
        self.status = widgets.HTML()
        self.detail = widgets.VBox()
        self.form: RunForm | None = None
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        self.refresh_button.on_click(lambda _: self.refresh())

        self.upload_source = widgets.Dropdown(description="pipeline", options=[])
        self.upload_path = widgets.Text(description="or file", placeholder="pipeline.py / .yaml")
        self.upload_name = widgets.Text(description="name", placeholder="(the pipeline's name)")
        self.upload_shared = widgets.Checkbox(description="share with every project")
        self.upload_button = widgets.Button(description="Upload", icon="upload")
        self.upload_button.on_click(lambda _: self.upload())
        upload_box = widgets.VBox(
            [
                widgets.HBox([self.upload_source, self.upload_path]),
                widgets.HBox([self.upload_name, self.upload_shared, self.upload_button]),
            ]
        )
        super().__init__(
            [
                widgets.HBox([widgets.HTML("<b>Pipelines</b>"), self.refresh_button]),
                self.tabs,
                widgets.Accordion(children=[upload_box], titles=("Upload from the notebook",)),
                self.status,
                self.detail,
            ]
        )
        self.refresh()

    # ---- listing ------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Reload both spaces and the notebook's pipeline functions."""
        self._refresh_sources()
        for space in SPACES:
            box = self.lists[space]
            if space == "shared" and self.client.shared is None:
                self.rows[space] = []
                box.children = [widgets.HTML("<i>The shared space is off here.</i>")]
                continue
            try:
                pipelines = self.client.list_pipelines(space)
            except DSPError as exc:
                self.rows[space] = []
                box.children = [widgets.HTML(f'<span style="{_ERROR}">{escape(str(exc))}</span>')]
                continue
            writable = self.client.space(space).writable
            self.rows[space] = [PipelineRow(self, p, writable) for p in pipelines]
            box.children = self.rows[space] or [widgets.HTML("<i>No pipelines yet.</i>")]

    def _refresh_sources(self) -> None:
        ns = self._user_ns
        if ns is None:
            try:
                from IPython import get_ipython

                shell = get_ipython()
                ns = shell.user_ns if shell is not None else {}
            except ImportError:  # pragma: no cover
                ns = {}
        names = sorted(k for k, v in ns.items() if not k.startswith("_") and _is_pipeline(v))
        self._sources = {k: ns[k] for k in names}
        self.upload_source.options = [("(choose)", "")] + [(k, k) for k in names]

    def row(self, space: str, name: str) -> PipelineRow | None:
        return next((r for r in self.rows[space] if r.name == name), None)

    def names(self, space: str) -> list[str]:
        return [r.name for r in self.rows[space]]

    # ---- actions -----------------------------------------------------------------------------

    def _say(self, html: str) -> None:
        self.status.value = html

    def _fail(self, exc: Exception) -> None:
        self._say(f'<span style="{_ERROR}">{escape(str(exc))}</span>')

    def open_run_form(self, row: PipelineRow) -> RunForm | None:
        version = row.selected_version
        try:
            self.form = RunForm(self.client, version, poll_interval=self.poll_interval)
        except DSPError as exc:
            self._fail(exc)
            return None
        self.detail.children = [self.form]
        return self.form

    def fork(self, row: PipelineRow) -> Any:
        version = row.selected_version
        try:
            # a managed pipeline by id: the catalog may hold one of the same name
            source = row.pipeline.id if row.pipeline.space == "managed" else row.name
            forked = self.client.fork(source, version=version.id if version else None)
        except DSPError as exc:
            self._fail(exc)
            return None
        self.refresh()
        self.tabs.selected_index = 1
        self._say(f"Forked <b>{escape(row.name)}</b> into your project.")
        return forked

    def ask_delete(self, row: PipelineRow) -> widgets.HBox:
        """Show a confirmation; only "Delete" there really deletes."""
        count = len(row.pipeline.versions)
        yes = widgets.Button(description="Delete", button_style="danger")
        no = widgets.Button(description="Cancel")
        box = widgets.HBox(
            [
                widgets.HTML(
                    f"Delete <b>{escape(row.name)}</b> ({escape(row.pipeline.space)}) and its "
                    f"{count} version{'s' if count != 1 else ''}?"
                ),
                yes,
                no,
            ]
        )
        yes.on_click(lambda _: self.delete(row))
        no.on_click(lambda _: self._clear_detail())
        self.detail.children = [box]
        return box

    def _clear_detail(self) -> None:
        self.detail.children = []

    def delete(self, row: PipelineRow) -> None:
        try:
            self.client.delete_pipeline(row.pipeline.id, row.pipeline.space)
        except DSPError as exc:
            self._fail(exc)
            return
        self._clear_detail()
        self.refresh()
        self._say(f"Deleted <b>{escape(row.name)}</b>.")

    def upload(self) -> Any:
        path = self.upload_path.value.strip()
        source: Any = path or self._sources.get(self.upload_source.value)
        if not source:
            self._say(f'<span style="{_ERROR}">Choose a notebook pipeline or give a file.</span>')
            return None
        try:
            version = self.client.upload(
                source,
                shared=self.upload_shared.value,
                name=self.upload_name.value.strip() or None,
            )
        except DSPError as exc:
            self._fail(exc)
            return None
        self.refresh()
        self.tabs.selected_index = 0 if self.upload_shared.value else 1
        owner = version.pipeline.name if version.pipeline else version.name
        self._say(f"Uploaded <b>{escape(owner)}</b> version {escape(version.name)}.")
        return version


def _is_pipeline(obj: Any) -> bool:
    return is_pipeline_function(obj) and type(obj).__name__ == "GraphComponent"
