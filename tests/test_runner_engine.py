"""The run engine without HTTP: worker processes, pool, terminate, retry.

Pipelines are compiled here with the installed kfp (their steps start with the real
``pip install 'kfp==...'`` prologue) or read from the shared reference corpus. (No
``from __future__ import annotations``: kfp reads the components' annotations.)
"""

import csv
import importlib.metadata
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, List, NamedTuple  # noqa: UP035 (kfp 2.14 reads typing.List only)

import pytest
from kfp import compiler, dsl
from reference import COMPILED as CORPUS
from sample_pipelines import add, adder
from step_files import host_pids_with, marker, work_file

from jupyter_dsp.stack.runner import (
    RunEngine,
    RunSnapshot,
    cluster_only_reasons,
    load_pipeline_document,
    resolve_parameters,
)
from jupyter_dsp.stack.runner.locality import check_runs_locally
from jupyter_dsp.stack.runner.prologue import read_prologue, strip_prologue

# ----- pipelines used below -----------------------------------------------------------------


@dsl.component(base_image="python:3.11")
def sleeper(pid_file: str, seconds: int) -> None:
    import subprocess
    import sys
    import time

    # the pid file's name marks the child on the host (its pid here is its namespace's)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", pid_file])
    with open(pid_file, "w") as f:
        f.write(f"{child.pid}\n")
    print("sleeping", flush=True)
    time.sleep(seconds)


@dsl.pipeline(name="sleepy")
def sleepy(pid_file: str, seconds: int = 600) -> None:
    sleeper(pid_file=pid_file, seconds=seconds)


@dsl.component(base_image="python:3.11")
def count_calls(counter: str) -> str:
    import os

    n = int(open(counter).read()) if os.path.exists(counter) else 0
    with open(counter, "w") as f:
        f.write(str(n + 1))
    return counter


@dsl.component(base_image="python:3.11")
def fail_once(flag: str, prev: str) -> str:
    import os

    if not os.path.exists(flag):
        open(flag, "w").close()
        raise RuntimeError("first attempt fails on purpose")
    return "second attempt"


@dsl.pipeline(name="flaky")
def flaky(counter: str, flag: str) -> str:
    first = count_calls(counter=counter)
    return fail_once(flag=flag, prev=first.output).output


@dsl.component(base_image="python:3.11", packages_to_install=["surely-not-installed-pkg-xyz==1.0"])
def needs_pkg() -> None:
    import surely_not_installed_pkg_xyz  # noqa: F401


@dsl.pipeline(name="needs-pkg")
def needs_pkg_pipeline() -> None:
    needs_pkg()


def compile_doc(pipeline: Callable[..., Any], tmp_path: Path) -> Any:
    path = tmp_path / f"{pipeline.name}.yaml"
    compiler.Compiler().compile(pipeline, str(path))
    return load_pipeline_document(path.read_text())


@pytest.fixture
def engine_factory(tmp_path: Path) -> Iterator[Callable[..., RunEngine]]:
    engines: list[RunEngine] = []

    def make(**kwargs: Any) -> RunEngine:
        engine = RunEngine(tmp_path / f"runs-{len(engines)}", **kwargs)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.shutdown()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purpose
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _wait_for(predicate: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


# ----- spec analysis --------------------------------------------------------------------------


def test_prologue_is_stripped_and_kfp_is_not_counted(tmp_path: Path) -> None:
    doc = compile_doc(adder, tmp_path)
    container = doc.pipeline_spec["deploymentSpec"]["executors"]["exec-add"]["container"]
    full = container["command"] + container["args"]
    assert "pip install" in full[2]
    prologue = read_prologue(full)
    assert prologue.present and prologue.strippable and prologue.packages == ()
    stripped = strip_prologue(full)
    assert "pip install" not in " ".join(stripped)
    assert stripped[:2] == ["sh", "-ec"]


def test_packages_to_install_and_importers_run_here(tmp_path: Path) -> None:
    doc = compile_doc(needs_pkg_pipeline, tmp_path)
    check_runs_locally(doc.pipeline_spec)  # a virtualenv per package set: no refusal


def test_locality_agrees_with_the_manifest() -> None:
    # Without a container engine, exactly the pipelines with a container image need a cluster,
    # plus one documented case: a *containerized* Python component keeps its code in the
    # image ("kfp-image"), so nothing but a container engine can run it.
    from jupyter_dsp.stack.runner.containers import find_container_engine

    if find_container_engine() is not None:
        pytest.skip("a container engine is reachable: container images run here")
    rows = [
        r
        for r in csv.DictReader(open(CORPUS / "MANIFEST.tsv"), delimiter="\t")
        if r["local_run"] in ("python-only", "needs-cluster")
    ]
    assert len(rows) > 100
    disagreements = []
    for row in rows:
        doc = load_pipeline_document((CORPUS / row["file"]).read_text())
        got = bool(cluster_only_reasons(doc.pipeline_spec))
        expected = "container image" in row["why_not_local"]
        if got != expected:
            disagreements.append(row["file"])
        if got:
            assert "no container engine" in cluster_only_reasons(doc.pipeline_spec)[0]
    assert set(disagreements) == {"valid/containerized_python_component.yaml"}


# ----- execution ------------------------------------------------------------------------------


def test_run_succeeds_with_outputs_logs_and_no_install(
    engine_factory: Callable[..., RunEngine], tmp_path: Path
) -> None:
    before = importlib.metadata.version("kfp")
    engine = engine_factory(max_workers=1)
    doc = compile_doc(adder, tmp_path)
    engine.submit("run-ok", doc, resolve_parameters(doc.root_parameters(), {"a": 5}))
    snap = engine.wait("run-ok", timeout=120)
    assert snap is not None and snap.state == "SUCCEEDED", snap and snap.error
    assert snap.outputs == {"Output": 15}
    [task] = snap.tasks.values()
    assert task.task_id == "add" and task.state == "SUCCEEDED"
    assert task.inputs == {"a": 5, "b": 10} and task.outputs == {"Output": 15}
    assert task.start_time <= task.end_time
    log = (engine.run_dir("run-ok") / "logs" / "add.log").read_text()
    assert "adding 5 and 10" in log
    assert [h["state"] for h in snap.state_history] == ["PENDING", "RUNNING", "SUCCEEDED"]
    assert importlib.metadata.version("kfp") == before
    worker_log = (engine.run_dir("run-ok") / "worker.log").read_text()
    assert "pip install" not in log + worker_log


def test_needs_cluster_fails_at_once(engine_factory: Callable[..., RunEngine]) -> None:
    engine = engine_factory()
    doc = load_pipeline_document((CORPUS / "valid/hello_world.yaml").read_text())
    snap = engine.submit("run-cluster", doc, {})
    assert snap.state == "FAILED"
    assert "needs a cluster stack" in snap.error and "container image" in snap.error
    assert not engine.run_dir("run-cluster").exists()  # nothing was started


def test_terminate_kills_the_process_tree(
    engine_factory: Callable[..., RunEngine], tmp_path: Path
) -> None:
    engine = engine_factory(max_workers=1)
    doc = compile_doc(sleepy, tmp_path)
    name = marker("child")  # the step's work dir; marks its processes (step_files.py)
    pid_file = work_file(engine.run_dir("run-t"), name)
    engine.submit("run-t", doc, resolve_parameters(doc.root_parameters(), {"pid_file": name}))
    _wait_for(lambda: pid_file.exists() and pid_file.read_text().endswith("\n"), timeout=60)
    steps = host_pids_with(name.encode())
    worker_pid = engine.snapshot("run-t").pid  # type: ignore[union-attr]
    assert worker_pid and len(steps) >= 2  # the step and its child
    assert engine.terminate("run-t").state == "CANCELING"  # type: ignore[union-attr]
    snap = engine.wait("run-t", timeout=30)
    assert snap is not None and snap.state == "CANCELED"
    # (how fast: bench/runs_latency.py measures it against the 2 s bound)
    _wait_for(lambda: not host_pids_with(name.encode()) and not _alive(worker_pid), timeout=10)
    assert [h["state"] for h in snap.state_history][-2:] == ["CANCELING", "CANCELED"]
    assert all(t.state == "CANCELED" for t in snap.tasks.values())


def test_terminate_a_pending_run(engine_factory: Callable[..., RunEngine], tmp_path: Path) -> None:
    engine = engine_factory(max_workers=1)
    doc = compile_doc(sleepy, tmp_path)
    params = resolve_parameters(doc.root_parameters(), {"pid_file": marker("p")})
    engine.submit("busy", doc, params)
    assert engine.submit("queued", doc, params).state == "PENDING"
    assert engine.terminate("queued").state == "CANCELED"  # type: ignore[union-attr]
    engine.terminate("busy")
    assert engine.wait("busy", timeout=10).state == "CANCELED"  # type: ignore[union-attr]


def test_retry_reruns_only_what_failed(
    engine_factory: Callable[..., RunEngine], tmp_path: Path
) -> None:
    engine = engine_factory()
    doc = compile_doc(flaky, tmp_path)
    # relative: in the run's work dir, which its attempts share
    params = resolve_parameters(doc.root_parameters(), {"counter": "counter", "flag": "flag"})
    counter = work_file(engine.run_dir("run-r"), "counter")
    engine.submit("run-r", doc, params)
    first = engine.wait("run-r", timeout=120)
    assert first is not None and first.state == "FAILED"
    assert "fail-once" in first.error and "first attempt fails on purpose" in first.error
    engine.retry("run-r")
    second = engine.wait("run-r", timeout=120)
    assert second is not None and second.state == "SUCCEEDED", second and second.error
    assert second.outputs == {"Output": "second attempt"} and second.attempt == 2
    assert counter.read_text() == "1"  # the step that succeeded came from the run's cache
    log = (engine.run_dir("run-r") / "logs" / "fail-once.log").read_text()
    assert "first attempt fails on purpose" in log and "--- run attempt 2 ---" in log
    states = [h["state"] for h in second.state_history]
    assert states == ["PENDING", "RUNNING", "FAILED", "PENDING", "RUNNING", "SUCCEEDED"]


def test_sixteen_runs_with_a_pool_of_two(
    engine_factory: Callable[..., RunEngine], tmp_path: Path
) -> None:
    peak = 0
    running: set[str] = set()

    def listen(snap: RunSnapshot) -> None:
        nonlocal peak
        (running.add if snap.state == "RUNNING" else running.discard)(snap.run_id)
        peak = max(peak, len(running))

    engine = engine_factory(max_workers=2, listener=listen)
    doc = compile_doc(adder, tmp_path)
    for i in range(16):
        engine.submit(f"r{i}", doc, resolve_parameters(doc.root_parameters(), {"a": i}))
    assert engine.running <= 2 and engine.running + engine.pending <= 16
    results = [engine.wait(f"r{i}", timeout=300) for i in range(16)]
    assert [r.state for r in results if r] == ["SUCCEEDED"] * 16
    assert [r.outputs["Output"] for r in results if r] == [i + 10 for i in range(16)]
    assert peak == 2


def test_worker_killed_from_outside_fails_the_run(
    engine_factory: Callable[..., RunEngine], tmp_path: Path
) -> None:
    engine = engine_factory()
    doc = compile_doc(sleepy, tmp_path)
    name = marker("child")
    pid_file = work_file(engine.run_dir("run-k"), name)
    engine.submit("run-k", doc, resolve_parameters(doc.root_parameters(), {"pid_file": name}))
    _wait_for(lambda: pid_file.exists() and pid_file.read_text().endswith("\n"), timeout=60)
    os.kill(engine.snapshot("run-k").pid, signal.SIGKILL)  # type: ignore[union-attr, arg-type]
    snap = engine.wait("run-k", timeout=10)
    assert snap is not None and snap.state == "FAILED"
    assert "ended unexpectedly (signal 9)" in snap.error
    _wait_for(lambda: not host_pids_with(name.encode()), timeout=10)


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
