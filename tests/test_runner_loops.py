"""Wide ParallelFor loops (iterations listed by index, every one runs) and the step sandbox."""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import List  # noqa: UP035 (kfp 2.14 reads typing.List only)

import pytest
from kfp import compiler, dsl

from jupyter_dsp.stack.runner import RunEngine, load_pipeline_document, resolve_parameters, sandbox
from jupyter_dsp.stack.runner.api_json import run_json
from jupyter_dsp.stack.runner.sandbox import SPEC_VARIABLE


@dsl.component(base_image="python:3.11")
def square(x: int) -> int:
    import random
    import time

    time.sleep(random.random() * 0.3)  # iterations end in any order
    return x * x


@dsl.component(base_image="python:3.11")
def add_up(xs: List[int]) -> int:  # noqa: UP006
    return sum(xs)


@dsl.pipeline(name="wide-loop")
def wide_loop(items: List[int] = list(range(30))) -> int:  # noqa: B006, B008, UP006
    with dsl.ParallelFor(items, parallelism=10) as item:
        squared = square(x=item)
    return add_up(xs=dsl.Collected(squared.output)).output


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[RunEngine]:
    engine = RunEngine(tmp_path / "runs", settings={"step_caching": False})
    yield engine
    engine.shutdown()


def test_wide_parallel_for_runs_every_iteration_in_index_order(
    engine: RunEngine, tmp_path: Path
) -> None:
    path = tmp_path / "wide.yaml"
    compiler.Compiler().compile(wide_loop, str(path))
    doc = load_pipeline_document(path.read_text())
    for attempt in range(3):  # the race showed once in a few runs on a loaded machine
        run_id = f"wide-{attempt}"
        engine.submit(run_id, doc, resolve_parameters(doc.root_parameters(), {}))
        snap = engine.wait(run_id, timeout=600)
        assert snap is not None and snap.state == "SUCCEEDED", snap and snap.error
        assert snap.outputs == {"Output": sum(i * i for i in range(30))}
        loop = next(t for t in snap.tasks.values() if t.kind == "loop")
        iterations = [snap.tasks[c] for c in loop.child_task_ids]
        # listed by index (as KFP's UI lists them), whichever iteration started first
        assert [t.iteration_index for t in iterations] == list(range(30))
        assert all(t.state == "SUCCEEDED" for t in iterations)
        # the API's task list (KFP's run_details.task_details) in the same order
        row = {
            "run_id": run_id,
            "experiment_id": "e",
            "display_name": "wide",
            "storage_state": "AVAILABLE",
            "description": "",
            "spec_json": "{}",
            "pipeline_version_id": "",
            "pipeline_id": "",
            "runtime_config": "{}",
            "service_account": "",
            "created_at_us": 1,
            "recurring_run_id": "",
        }
        details = run_json(row, snap)["run_details"]["task_details"]
        listed = [
            t.get("iteration_index") for t in details if t.get("parent_task_id") == loop.task_id
        ]
        assert listed == list(range(30))


def _sandbox(spec: dict, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, SPEC_VARIABLE: json.dumps(spec)}
    command = [sys.executable, "-I", "-S", sandbox.__file__, "--", "/bin/true"]
    return subprocess.run(command, env=env, capture_output=True, text=True, cwd=tmp_path)


@pytest.mark.skipif(os.geteuid() != 0, reason="steps run in the sandbox only when root")
def test_a_step_never_runs_half_isolated(tmp_path: Path) -> None:
    """A mount that fails once the step's namespace exists ends the step with the reason
    (it used to run on with the data dir hidden: 'No such file or directory: .../work')."""
    work = tmp_path / "data" / "runs" / "r" / "work"
    work.mkdir(parents=True)
    os.chown(work, 65534, 65534)
    # as the launcher does: hide the data dir and any ancestor the step user cannot pass
    closed = next((p for p in reversed(work.parents) if not p.stat().st_mode & 0o001), None)
    hide = [str(p) for p in (closed, tmp_path / "data") if p is not None]
    spec = {"uid": 65534, "gid": 65534, "cwd": str(work), "hide": hide}
    done = _sandbox({**spec, "keep": [str(work)], "tmp": str(tmp_path / "gone")}, tmp_path)
    if "unshare:" in done.stderr:  # no CAP_SYS_ADMIN: no namespace at all
        pytest.skip("no mount namespaces here")
    assert done.returncode == 126 and "cannot isolate the step" in done.stderr, done.stderr
    assert "No such file or directory" in done.stderr  # the failing mount's own reason
    # fully isolated, the work dir bound back: the step runs there
    ok = _sandbox({**spec, "keep": [str(work)]}, tmp_path)
    assert ok.returncode == 0, ok.stderr
    # a work dir that is not there: a clear message, not a traceback
    gone = _sandbox({**spec, "keep": [], "cwd": str(tmp_path / "nowhere")}, tmp_path)
    assert gone.returncode == 126 and "cannot enter the step's work directory" in gone.stderr
