"""Wide ParallelFor loops (iterations listed by index, every one runs).

(The step sandbox's own tests: tests/test_sandbox_startup.py, tests/test_sandbox_escape.py.)
"""

from collections.abc import Iterator
from pathlib import Path
from typing import List  # noqa: UP035 (kfp 2.14 reads typing.List only)

import pytest
from kfp import compiler, dsl

from jupyter_dsp.stack.runner import RunEngine, load_pipeline_document, resolve_parameters
from jupyter_dsp.stack.runner.api_json import run_json


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
