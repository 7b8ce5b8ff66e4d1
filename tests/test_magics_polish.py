"""The small things a newcomer trips on, in a real IPython shell against the session's embedded
stack: the closest sub-command suggested, the defaults a run ran with, floats at a sensible
precision, a single metric still drawn, and KFP's base_image FutureWarning kept out of cells."""

from __future__ import annotations

import html
import warnings

import pytest
from IPython.core.error import UsageError
from kernel_helpers import pipeline_source
from kernel_shell import run_cell
from test_magics_lifecycle import formats
from test_magics_results import VEGALITE, shown

pytestmark = pytest.mark.timeout(300)

ONE_METRIC = """
from kfp import dsl
from kfp.dsl import Metrics, Output

@dsl.component(base_image="python:3.11")
def score(a: float, b: float, metrics: Output[Metrics]) -> float:
    metrics.log_metric("accuracy", a - b)
    return a - b

@dsl.pipeline(name="NAME")
def one_metric(a: float = 0.3, b: float = 0.2):
    score(a=a, b=b)
"""


@pytest.mark.parametrize(
    ("line", "suggestion"),
    [
        ("rn my-pipeline", "%dsp run"),
        ("scheduels", "%dsp schedules"),
        ("outptus r", "%dsp outputs"),
    ],
)
def test_a_mistyped_command_names_the_closest_one(shell, line, suggestion):
    with pytest.raises(UsageError) as info:
        shell.run_line_magic("dsp", line)
    assert f"did you mean `{suggestion}`?" in str(info.value)
    with pytest.raises(UsageError) as far:
        shell.run_line_magic("dsp", "xyzzy")
    assert "did you mean" not in str(far.value) and "%dsp?" in str(far.value)


def test_a_run_with_default_parameters_shows_the_values_it_ran_with(shell, unique_name):
    name = unique_name("defaults")
    run_cell(shell, pipeline_source(name))
    shell.run_line_magic("dsp", "upload pipeline")
    run = shell.run_line_magic("dsp", f"run {name} -p a=2 --wait --timeout 240")
    assert run.parameters == {"a": 2}  # what was sent
    assert run.defaults == {"b": 0.5, "label": "sum", "flags": []}
    data = formats(shell, run)
    shown_html = html.unescape(data["text/html"])
    for part in ("a=2", "b=0.5 (default)", "label='sum' (default)", "flags=[] (default)"):
        assert part in shown_html
    assert "b=0.5 (default)" in data["text/plain"]
    shell.user_ns["r"] = run
    again = shell.run_line_magic("dsp", "show r")  # read back from the stack
    assert again.defaults == run.defaults
    assert "none" not in formats(shell, again)["text/html"].split("parameters", 1)[1][:20]


def test_floats_are_tidy_and_a_single_metric_is_a_chart(shell, unique_name):
    name = unique_name("one-metric")
    run_cell(shell, ONE_METRIC.replace("NAME", name))
    first = shell.run_line_magic("dsp", "run one_metric --wait --timeout 240")
    second = shell.run_line_magic("dsp", "run one_metric -p a=0.5 --wait --timeout 240")
    assert first.state == second.state == "SUCCEEDED", (first.error, second.error)
    shell.user_ns.update(r1=first, r2=second)

    bundles = shown(shell, "%dsp outputs r1")
    text = "\n".join(b.get("text/plain", "") for b in bundles)
    html = "\n".join(b.get("text/html", "") for b in bundles)
    assert "0.09999999999999998" not in text + html
    assert "0.1" in text
    titles = [b[VEGALITE]["title"] for b in bundles if VEGALITE in b]
    assert any(t.endswith("metrics") for t in titles), titles  # one metric, one bar

    compared = shown(shell, "%dsp compare r1 r2")
    table = "\n".join(b.get("text/plain", "") + b.get("text/html", "") for b in compared)
    assert "0.09999999999999998" not in table and "0.1" in table


def test_kfp_base_image_warning_is_hidden_and_no_other(shell):
    cell = "from kfp import dsl\n@dsl.component\ndef no_image(x: int) -> int:\n    return x\n"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")  # what a kernel shows, then %load_ext's filter first
        shell.run_line_magic("load_ext", "jupyter_dsp")
        shell.run_line_magic("reload_ext", "jupyter_dsp")
        run_cell(shell, cell)
        warnings.warn("another FutureWarning", FutureWarning, stacklevel=1)
    messages = [str(w.message) for w in caught]
    assert not any("base_image" in m for m in messages), messages
    assert "another FutureWarning" in messages
