"""RunForm: inputs built from a pipeline's root input definitions, checked before submitting."""

from __future__ import annotations

import json
from collections.abc import Callable
from html import escape
from typing import Any

import ipywidgets as widgets

from jupyter_dsp.client import ArgumentError, DSPClient, DSPError, Run
from jupyter_dsp.client.compiling import CompiledPipeline, from_spec_dict
from jupyter_dsp.client.params import BOOLEAN, LIST, STRUCT, Parameter, check_arguments
from jupyter_dsp.widgets.run_monitor import RunMonitor

_ERROR = "color:#c62828"


def _input_for(param: Parameter) -> widgets.Widget:
    """A fitting input: a checkbox for bools, a text area for JSON, text for the rest.

    Numbers are typed as text on purpose: the form (not the browser) says what is wrong.
    """
    label = f"{param.name}{' *' if param.required else ''}"
    tip = f"{param.type_label}{' (required)' if param.required else ''}"
    if param.description:
        tip += f": {param.description}"
    style = {"description_width": "initial"}
    if param.type == BOOLEAN:
        value = bool(param.default) if param.has_default else False
        return widgets.Checkbox(value=value, description=label, tooltip=tip, style=style)
    default = ""
    if param.has_default:
        value = param.default
        default = json.dumps(value) if param.type in (LIST, STRUCT) else _plain(param, value)
    cls = widgets.Textarea if param.type in (LIST, STRUCT) else widgets.Text
    return cls(
        value=default,
        description=label,
        placeholder=param.type_label,
        tooltip=tip,
        style=style,
        layout=widgets.Layout(width="100%"),  # its own: a red border marks this input only
    )


def _plain(param: Parameter, value: Any) -> str:
    if isinstance(value, float) and param.type == "NUMBER_INTEGER" and value.is_integer():
        return str(int(value))
    return str(value)


class RunForm(widgets.VBox):
    """Run a pipeline (function, file, name, Pipeline or PipelineVersion) with a form.

    Required inputs are marked ``*``; values are converted and checked before anything is sent.
    After a successful submit, a :class:`RunMonitor` follows the run (``form.monitor``).
    """

    def __init__(
        self,
        client: DSPClient,
        target: Any,
        *,
        space: str | None = None,
        version: str | None = None,
        experiment: str | None = None,
        on_run: Callable[[Run], None] | None = None,
        watch: bool = True,
        poll_interval: float = 1.0,
    ) -> None:
        self.client = client
        self.on_run = on_run
        self.watch = watch
        self.poll_interval = poll_interval
        self.monitor: RunMonitor | None = None
        self.last_run: Run | None = None
        title, spec, picked = client.resolve_target(target, space=space, version=version)
        self.title = title
        self._target: Any = picked if picked is not None else _compiled(spec)
        self.parameters = picked.parameters if picked is not None else self._target.parameters
        self.inputs: dict[str, widgets.Widget] = {
            name: _input_for(param) for name, param in self.parameters.items()
        }
        where = f"version {picked.name} ({picked.space})" if picked is not None else "local"
        self.heading = widgets.HTML(f"<b>Run {escape(title)}</b> <small>{escape(where)}</small>")
        self.run_name = widgets.Text(description="run name", placeholder="(automatic)")
        self.experiment = widgets.Text(
            value=experiment or client.default_experiment, description="experiment"
        )
        self.run_button = widgets.Button(description="Run", button_style="primary", icon="play")
        self.run_button.on_click(lambda _: self.submit())
        # in a cluster workbench: run on the server's local stack, the cluster untouched
        self.local_button = widgets.Button(
            description="Run locally",
            icon="laptop",
            tooltip="Run on this workbench's local stack (the cluster is not used)",
            layout=widgets.Layout(display="" if client.mode != "embedded" else "none"),
        )
        self.local_button.on_click(lambda _: self.submit(local=True))
        self.status = widgets.HTML()
        self.message = ""  # the status as plain text: the refusal or "Started run ..."
        self.monitor_box = widgets.VBox()
        fields = list(self.inputs.values()) or [widgets.HTML("<i>No parameters.</i>")]
        super().__init__(
            [
                self.heading,
                *fields,
                widgets.HBox([self.run_name, self.experiment]),
                widgets.HBox([self.run_button, self.local_button]),
                self.status,
                self.monitor_box,
            ]
        )

    def values(self) -> dict[str, Any]:
        """The converted values; raises :class:`ArgumentError` naming the first bad one.

        Empty text means "not given" (the pipeline's default applies)."""
        raw: dict[str, Any] = {}
        for name, box in self.inputs.items():
            value = box.value
            if isinstance(value, str) and value.strip() == "":
                continue
            raw[name] = value
        return check_arguments(self.parameters, raw)

    def submit(self, local: bool = False) -> Run | None:
        """Check the inputs, start the run and follow it; ``None`` (with a message) if refused.
        ``local=True`` runs on the workbench's local stack (see jupyter_dsp.client.local)."""
        for box in self.inputs.values():
            box.layout.border = None
        try:
            values = self.values()
        except ArgumentError as exc:
            if exc.parameter in self.inputs:
                self.inputs[exc.parameter].layout.border = "2px solid #c62828"
            self._say(str(exc), error=True)
            return None
        self.run_button.disabled = self.local_button.disabled = True
        self._say("Submitting…")
        target_client = self.client
        try:
            if local:
                from jupyter_dsp.client.local import local_client, run_locally

                target_client = local_client(self.client.namespace)
                run = run_locally(
                    self.client,
                    target_client,
                    self._target,
                    values,
                    experiment=self.experiment.value.strip() or None,
                    name=self.run_name.value.strip() or None,
                )
            else:
                run = self.client.run(
                    self._target,
                    values,
                    experiment=self.experiment.value.strip() or None,
                    name=self.run_name.value.strip() or None,
                )
        except DSPError as exc:
            self._say(str(exc), error=True)
            return None
        finally:
            self.run_button.disabled = self.local_button.disabled = False
        self.last_run = run
        where = "local run" if local else "run"
        self._say(f"Started {where} {run.id}.", code=run.id)
        if self.watch:
            if self.monitor is not None:
                self.monitor.stop()
            self.monitor = RunMonitor(target_client, run, poll_interval=self.poll_interval)
            self.monitor_box.children = [self.monitor]
        if self.on_run is not None:
            self.on_run(run)
        return run

    def _say(self, text: str, *, error: bool = False, code: str = "") -> None:
        self.message = text
        shown = escape(text)
        if code:
            shown = shown.replace(escape(code), f"<code>{escape(code)}</code>")
        self.status.value = f'<span style="{_ERROR}">{shown}</span>' if error else shown


def _compiled(spec: dict[str, Any] | None) -> CompiledPipeline:
    if not spec:
        raise DSPError("Nothing to run: the pipeline has no spec.")
    return from_spec_dict(spec, "form")
