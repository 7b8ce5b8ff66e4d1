""" "Run again": a RunForm filled with a run's pipeline version, parameters and experiment."""

from __future__ import annotations

import json
from typing import Any

import ipywidgets as widgets

from jupyter_dsp.client import DSPClient, Run
from jupyter_dsp.widgets.run_form import RunForm


def run_again_form(client: DSPClient, run: Run, *, poll_interval: float = 1.0) -> RunForm:
    """A :class:`RunForm` for the run's version (or inline spec), its inputs set to the run's
    parameter values, its experiment and the name ``Rerun of …``: change what you like, Run."""
    target, parameters, experiment = client.rerun_target(run)
    form = RunForm(client, target, experiment=experiment, poll_interval=poll_interval)
    for name, value in parameters.items():
        box = form.inputs.get(name)
        if box is None:
            continue
        if isinstance(box, widgets.Checkbox):
            box.value = bool(value)
        elif isinstance(value, list | dict):
            box.value = json.dumps(value)
        elif isinstance(value, float) and value.is_integer() and _integer(form, name):
            box.value = str(int(value))
        else:
            box.value = str(value)
    form.run_name.value = f"Rerun of {run.name}"
    return form


def _integer(form: Any, name: str) -> bool:
    return getattr(form.parameters.get(name), "type", "") == "NUMBER_INTEGER"
