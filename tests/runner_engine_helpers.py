"""Components, pipelines and the engine fixture of the run-engine tests (test_runner_engine*.py)."""

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any  # noqa: UP035 (kfp 2.14 reads typing.List only)

import pytest
from kfp import compiler, dsl

from jupyter_dsp.stack.runner import (
    RunEngine,
    load_pipeline_document,
)

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


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purpose
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def wait_for(predicate: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


# ----- spec analysis --------------------------------------------------------------------------
