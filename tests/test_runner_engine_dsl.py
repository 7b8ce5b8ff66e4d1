"""The run engine without HTTP, on the DSL's features: the server's private variables kept
from steps, branches not taken, loops, collected outputs and oneOf, display names, exit
handlers with their final status, retries, ignored upstream failures, Kubernetes secrets."""

from collections.abc import Callable
from pathlib import Path
from typing import List, NamedTuple  # noqa: UP035 (kfp 2.14 reads typing.List only)

import pytest
import runner_engine_helpers
from kfp import dsl
from reference import COMPILED as CORPUS
from runner_engine_helpers import compile_doc
from sample_pipelines import add

from jupyter_dsp.stack.runner import (
    RunEngine,
    load_pipeline_document,
    resolve_parameters,
)

engine_factory = runner_engine_helpers.engine_factory  # a fixture


@dsl.component(base_image="python:3.11")
def env_probe() -> str:
    import os

    return os.environ.get("JUPYTER_DSP_PROBE_SECRET", "absent")


@dsl.pipeline(name="env-probe")
def env_probe_pipeline() -> str:
    return env_probe().output


def test_steps_do_not_see_the_servers_private_variables(
    engine_factory: Callable[..., RunEngine], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUPYTER_DSP_PROBE_SECRET", "s3cr3t")
    engine = engine_factory()
    doc = compile_doc(env_probe_pipeline, tmp_path)
    engine.submit("run-env", doc, {})
    snap = engine.wait("run-env", timeout=120)
    assert snap is not None and snap.outputs == {"Output": "absent"}


@dsl.pipeline(name="branching")
def branching(flag: str = "off") -> None:
    with dsl.If(flag == "on"):
        add(a=1, b=2)
    with dsl.Else():
        add(a=3, b=4)


def test_branch_not_taken_is_skipped(
    engine_factory: Callable[..., RunEngine], tmp_path: Path
) -> None:
    engine = engine_factory()
    doc = compile_doc(branching, tmp_path)
    engine.submit("run-b", doc, resolve_parameters(doc.root_parameters(), {}))
    snap = engine.wait("run-b", timeout=120)
    assert snap is not None and snap.state == "SUCCEEDED", snap and snap.error
    states = {t.task_id: t.state for t in snap.tasks.values()}
    taken = [tid for tid, state in states.items() if tid.endswith(".add-2")]
    assert states["condition-branches-1.condition-2"] == "SKIPPED"
    assert len(taken) == 1 and states[taken[0]] == "SUCCEEDED"
    assert snap.tasks[taken[0]].inputs == {"a": 3, "b": 4}


# ----- KFP features the engine walks itself ----------------------------------------------


@dsl.component(base_image="python:3.11")
def double(x: int) -> int:
    return x * 2


@dsl.component(base_image="python:3.11")
def total(xs: List[int]) -> int:  # noqa: UP006
    return sum(xs)


@dsl.component(base_image="python:3.11")
def coin() -> str:
    return "heads"


@dsl.component(base_image="python:3.11")
def say(s: str) -> str:
    return s


class Out(NamedTuple):
    total: int
    said: str


@dsl.pipeline(name="features")
def features(items: List[int] = [1, 2, 3]) -> Out:  # noqa: B006, UP006
    with dsl.ParallelFor(items, parallelism=2) as item:
        doubled = double(x=item).set_display_name("double it")
    summed = total(xs=dsl.Collected(doubled.output))
    flip = coin()
    with dsl.If(flip.output == "heads"):
        heads = say(s="H")
    with dsl.Else():
        tails = say(s="T")
    return Out(total=summed.output, said=dsl.OneOf(heads.output, tails.output))


def test_loops_collected_oneof_and_display_names(
    engine_factory: Callable[..., RunEngine], tmp_path: Path
) -> None:
    engine = engine_factory()
    doc = compile_doc(features, tmp_path)
    engine.submit("run-f", doc, resolve_parameters(doc.root_parameters(), {}))
    snap = engine.wait("run-f", timeout=180)
    assert snap is not None and snap.state == "SUCCEEDED", snap and snap.error
    assert snap.outputs == {"total": 12, "said": "H"}
    loops = [t for t in snap.tasks.values() if t.kind == "loop"]
    assert len(loops) == 1 and len(loops[0].child_task_ids) == 3
    iterations = [snap.tasks[c] for c in loops[0].child_task_ids]
    assert [t.iteration_index for t in iterations] == [0, 1, 2]
    steps = [t for t in snap.tasks.values() if t.name == "double"]
    assert sorted(t.outputs["Output"] for t in steps) == [2, 4, 6]
    assert {t.display_name for t in steps} == {"double it"}  # set_display_name, same record
    assert all(t.state == "SUCCEEDED" for t in steps)
    summed = next(t for t in snap.tasks.values() if t.name == "total")
    assert summed.inputs == {"xs": [2, 4, 6]} and summed.outputs == {"Output": 12}
    skipped = [t for t in snap.tasks.values() if t.state == "SKIPPED"]
    assert len(skipped) == 1  # the Else branch


@dsl.component(base_image="python:3.11")
def fail_op(message: str) -> None:
    import sys

    print(message)
    sys.exit(1)


@dsl.component(base_image="python:3.11")
def exit_report(status: dsl.PipelineTaskFinalStatus) -> str:
    print("status", status.state, status.pipeline_task_name, status.error_message)
    return status.state


@dsl.component(base_image="python:3.11")
def after_failure(x: int = 7) -> int:
    return x


@dsl.pipeline(name="exit-status")
def exit_status() -> None:
    handler = exit_report()
    with dsl.ExitHandler(handler):
        failing = fail_op(message="boom")
        failing.set_retry(num_retries=1, backoff_duration="0s")
        after_failure(x=1).after(failing).ignore_upstream_failure()


def test_exit_handler_final_status_retries_and_ignore_upstream_failure(
    engine_factory: Callable[..., RunEngine], tmp_path: Path
) -> None:
    engine = engine_factory()
    doc = compile_doc(exit_status, tmp_path)
    engine.submit("run-x", doc, {})
    snap = engine.wait("run-x", timeout=180)
    assert snap is not None and snap.state == "FAILED"
    by_name = {t.name: t for t in snap.tasks.values()}
    assert by_name["fail-op"].state == "FAILED" and by_name["fail-op"].attempts == 2
    assert "fail-op" in snap.error
    assert by_name["after-failure"].state == "SUCCEEDED"  # ran although its upstream failed
    report = by_name["exit-report"]
    assert report.state == "SUCCEEDED" and report.outputs == {"Output": "FAILED"}
    assert report.inputs["status"]["pipelineTaskName"] == "exit-handler-1"
    log = (engine.run_dir("run-x") / "logs" / f"{by_name['fail-op'].task_id}.log").read_text()
    assert log.count("\nboom\n") == 2 and "--- attempt 2 ---" in log


def test_a_step_that_needs_a_kubernetes_secret_says_so(
    engine_factory: Callable[..., RunEngine],
) -> None:
    engine = engine_factory()
    doc = load_pipeline_document((CORPUS / "valid/pipeline_with_secret_as_volume.yaml").read_text())
    assert doc.platform_spec
    engine.submit("run-s", doc, resolve_parameters(doc.root_parameters(), {"secret_param": "s"}))
    snap = engine.wait("run-s", timeout=120)
    assert snap is not None and snap.state == "FAILED"
    assert "asks for Kubernetes secret (from input 'secret_param') mounted at" in snap.error
    [task] = snap.tasks.values()
    log = (engine.run_dir("run-s") / "logs" / f"{task.task_id}.log").read_text()
    assert "not provided here (Kubernetes only): secret" in log
