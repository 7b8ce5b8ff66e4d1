"""%dsp runs in a real IPython shell against a real embedded stack: run, wait, logs, terminate."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError
from kernel_helpers import pipeline_source
from kernel_shell import run_cell

from jupyter_dsp.client import Run

TIMEOUT = "--timeout 240"


def define_and_upload(sh, name: str, **options) -> None:
    run_cell(sh, pipeline_source(name, **options))
    sh.run_line_magic("dsp", "upload pipeline")


def test_run_with_parameters_waits_to_succeeded_and_reads_logs(shell, unique_name):
    name = unique_name("run")
    define_and_upload(shell, name)
    run = shell.run_line_magic(
        "dsp", f"run {name} -p a=2 b=0.25 -p label=total -p 'flags=[\"x\"]' --wait {TIMEOUT}"
    )
    assert isinstance(run, Run)
    assert run.state == "SUCCEEDED", run.error
    assert run.parameters == {"a": 2, "b": 0.25, "label": "total", "flags": ["x"]}
    assert {t.name for t in run.tasks} >= {"add", "report"}

    shell.user_ns["r"] = run
    logs = shell.run_line_magic("dsp", "logs r report")
    assert "total: total=2.25 flags=['x']" in logs.text
    everything = shell.run_line_magic("dsp", f"logs {run.id}")
    assert "adding 2 and 0.25" in everything.text and "==> report" in everything.text

    shown = shell.run_line_magic("dsp", "show r")
    assert shown.id == run.id and shown.state == "SUCCEEDED"
    formatted, _ = shell.display_formatter.format(shown)
    assert "SUCCEEDED" in formatted["text/plain"] and "SUCCEEDED" in formatted["text/html"]

    listed = shell.run_line_magic("dsp", "runs --limit 50 --state succeeded")
    assert run.id in [r.id for r in listed]
    assert all(r.state == "SUCCEEDED" for r in listed)


def test_run_a_pipeline_function_of_the_notebook(shell, unique_name, capsys):
    name = unique_name("fn")
    run_cell(shell, pipeline_source(name))
    run = shell.run_line_magic(
        "dsp", f"run pipeline -p a=5 --experiment {name}-exp --wait {TIMEOUT}"
    )
    assert run.state == "SUCCEEDED", run.error
    assert run.pipeline_id == ""  # ran from the compiled spec, nothing uploaded
    watched = shell.run_line_magic("dsp", "run pipeline -p a=6 --watch")
    assert watched.state == "SUCCEEDED", watched.error
    out = capsys.readouterr().out
    assert "SUCCEEDED" in out  # the terminal watch prints state lines


def test_terminate_a_running_run(shell, unique_name):
    name = unique_name("slow")
    define_and_upload(shell, name, sleep=60)
    run = shell.run_line_magic("dsp", f"run {name} -p a=1")
    assert run.state in ("PENDING", "RUNNING")
    shell.user_ns["slow_run"] = run
    shell.run_line_magic("dsp", "terminate slow_run")
    final = shell.run_line_magic("dsp", f"wait slow_run {TIMEOUT}")
    assert final.state == "CANCELED"


def test_run_usage_errors(shell, unique_name):
    name = unique_name("bad")
    define_and_upload(shell, name)
    run = shell.run_line_magic("dsp", f"run {name} -p a=1 --wait {TIMEOUT}")
    shell.user_ns["done"] = run
    with pytest.raises(UsageError, match="has no task 'nope'"):
        shell.run_line_magic("dsp", "logs done nope")
    with pytest.raises(UsageError):
        shell.run_line_magic("dsp", "show 00000000-0000-0000-0000-000000000000")
    with pytest.raises(UsageError, match="version"):
        shell.run_line_magic("dsp", f"run {name} -p a=1 --version no-such-version")


FLAKY_STEP = """
from kfp import dsl

@dsl.component(base_image="python:3.11")
def needs_marker(marker: str) -> str:
    import os
    if not os.path.exists(marker):
        raise RuntimeError(f"no marker at {marker}")
    print("marker found")
    return marker

@dsl.pipeline(name="NAME")
def flaky(marker: str):
    needs_marker(marker=marker)
"""


def test_retry_a_failed_run(shell, stack, unique_name):
    name = unique_name("flaky")
    run_cell(shell, FLAKY_STEP.replace("NAME", name))
    # relative: in the run's own work dir, where the test can put it between attempts
    failed = shell.run_line_magic("dsp", f"run flaky -p marker=marker --wait {TIMEOUT}")
    assert failed.state == "FAILED"
    assert "no marker" in shell.run_line_magic("dsp", f"logs {failed.id} needs-marker").text
    (stack.data_dir / "runs" / failed.id / "work" / "marker").write_text("here")
    shell.user_ns["failed"] = failed
    shell.run_line_magic("dsp", "retry failed")
    final = shell.run_line_magic("dsp", f"wait failed {TIMEOUT}")
    assert final.state == "SUCCEEDED", final.error


def test_run_the_shared_one_of_two_same_named_pipelines(shell, unique_name):
    name = unique_name("both")
    run_cell(shell, pipeline_source(name))
    private = shell.run_line_magic("dsp", "upload pipeline")
    shared = shell.run_line_magic("dsp", "upload pipeline --shared")
    default = shell.run_line_magic("dsp", f"run {name} -p a=1 --wait {TIMEOUT}")
    assert default.version_id == private.id  # the project's pipeline comes first
    chosen = shell.run_line_magic("dsp", f"run {name} --shared -p a=1 --wait {TIMEOUT}")
    assert chosen.version_id == shared.id and chosen.state == "SUCCEEDED"
