"""The run engine without HTTP: worker processes, pool, terminate, retry.

Pipelines are compiled here with the installed kfp (their steps start with the real
``pip install 'kfp==...'`` prologue) or read from the shared reference corpus. (No
``from __future__ import annotations``: kfp reads the components' annotations.)
"""

import csv
import importlib.metadata
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
import runner_engine_helpers
from reference import COMPILED as CORPUS
from runner_engine_helpers import (
    compile_doc,
    flaky,
    needs_pkg_pipeline,
    pid_alive,
    sleepy,
    wait_for,
)
from sample_pipelines import adder
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

engine_factory = runner_engine_helpers.engine_factory  # a fixture


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
    wait_for(lambda: pid_file.exists() and pid_file.read_text().endswith("\n"), timeout=60)
    steps = host_pids_with(name.encode())
    worker_pid = engine.snapshot("run-t").pid  # type: ignore[union-attr]
    assert worker_pid and len(steps) >= 2  # the step and its child
    assert engine.terminate("run-t").state == "CANCELING"  # type: ignore[union-attr]
    snap = engine.wait("run-t", timeout=30)
    assert snap is not None and snap.state == "CANCELED"
    # (how fast: bench/runs_latency.py measures it against the 2 s bound)
    wait_for(lambda: not host_pids_with(name.encode()) and not pid_alive(worker_pid), timeout=10)
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
    wait_for(lambda: pid_file.exists() and pid_file.read_text().endswith("\n"), timeout=60)
    os.kill(engine.snapshot("run-k").pid, signal.SIGKILL)  # type: ignore[union-attr, arg-type]
    snap = engine.wait("run-k", timeout=10)
    assert snap is not None and snap.state == "FAILED"
    assert "ended unexpectedly (signal 9)" in snap.error
    wait_for(lambda: not host_pids_with(name.encode()), timeout=10)
