"""Per-step environments (``packages_to_install``): built with uv from a real package index
on loopback (tests/fixtures_pkgindex.py), layered over this environment, never changing it.
"""

import importlib.util
import io
import multiprocessing
import subprocess
import sys
from pathlib import Path

import pytest

from jupyter_dsp.stack.runner.environments import EnvironmentBuildError, StepEnvironments


def _run(python: str, code: str) -> str:
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_no_packages_is_the_server_python(tmp_path: Path) -> None:
    envs = StepEnvironments(tmp_path)
    assert envs.python_for([], [], io.BytesIO()) == sys.executable
    assert envs.python_for(["  "], ["http://unused"], io.BytesIO()) == sys.executable
    assert not (tmp_path / "envs").exists()


def test_builds_once_and_layers_over_the_server(tmp_path: Path, package_index) -> None:
    package_index.add("dsp-tiny-a", "1.0", "VALUE = 'tiny a'\n")
    assert importlib.util.find_spec("dsp_tiny_a") is None
    envs = StepEnvironments(tmp_path)
    log = io.BytesIO()
    python = envs.python_for(["dsp-tiny-a==1.0"], [package_index.url], log)
    assert python != sys.executable and Path(python).exists()
    assert "Creating an environment for dsp-tiny-a==1.0" in log.getvalue().decode()
    assert "dsp-tiny-a" in log.getvalue().decode()  # uv's own output is in the log
    # the package is there, and kfp comes from the server's environment (not reinstalled)
    out = _run(python, "import dsp_tiny_a, kfp; print(dsp_tiny_a.VALUE); print(kfp.__file__)")
    value, kfp_file = out.splitlines()
    assert value == "tiny a"
    import kfp

    assert kfp_file == kfp.__file__
    assert importlib.util.find_spec("dsp_tiny_a") is None  # the server is unchanged

    again = io.BytesIO()
    assert envs.python_for(["dsp-tiny-a==1.0"], [package_index.url], again) == python
    assert envs.builds == 1
    assert "Reusing the environment" in again.getvalue().decode()
    # another object (another worker process) on the same root reuses it too
    other = StepEnvironments(tmp_path)
    assert other.python_for(["dsp-tiny-a==1.0"], [package_index.url], io.BytesIO()) == python
    assert other.builds == 0


def test_failed_install_names_the_package_and_the_reason(tmp_path: Path, package_index) -> None:
    envs = StepEnvironments(tmp_path)
    log = io.BytesIO()
    with pytest.raises(EnvironmentBuildError) as caught:
        envs.python_for(["dsp-no-such-package"], [package_index.url], log)
    message = str(caught.value)
    assert "dsp-no-such-package" in message
    assert "not found" in message  # uv's reason, not just "failed"
    assert "dsp-no-such-package" in log.getvalue().decode()
    assert envs.sizes() == {}  # nothing half-built is kept


def _build_in_process(root: str, url: str, queue: multiprocessing.Queue) -> None:
    log = io.BytesIO()
    envs = StepEnvironments(Path(root))
    python = envs.python_for(["dsp-tiny-b"], [url], log)
    queue.put((python, envs.builds))


def test_concurrent_processes_build_a_set_once(tmp_path: Path, package_index) -> None:
    package_index.add("dsp-tiny-b", "1.0")
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_build_in_process, args=(str(tmp_path), package_index.url, queue))
        for _ in range(3)
    ]
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
    assert len({python for python, _ in results}) == 1
    assert sorted(builds for _, builds in results) == [0, 0, 1]


def test_lru_eviction_by_size_spares_environments_in_use(tmp_path: Path, package_index) -> None:
    for name in ("dsp-tiny-c", "dsp-tiny-d", "dsp-tiny-e"):
        package_index.add(name, "1.0")
    first = StepEnvironments(tmp_path, max_bytes=1)  # every environment is over the bound
    python_c = first.python_for(["dsp-tiny-c"], [package_index.url], io.BytesIO())
    first.close()  # no process uses it any more
    holder = StepEnvironments(tmp_path, max_bytes=1)
    python_d = holder.python_for(["dsp-tiny-d"], [package_index.url], io.BytesIO())
    assert not Path(python_c).exists()  # least recently used and unused: evicted
    assert Path(python_d).exists()
    third = StepEnvironments(tmp_path, max_bytes=1)
    python_e = third.python_for(["dsp-tiny-e"], [package_index.url], io.BytesIO())
    assert Path(python_d).exists()  # held by `holder` (a running step): kept
    assert Path(python_e).exists()
    holder.close()
    assert third.evict() and not Path(python_d).exists()
    # a generous bound keeps everything
    roomy = StepEnvironments(tmp_path)
    roomy.python_for(["dsp-tiny-c"], [package_index.url], io.BytesIO())
    assert len(roomy.sizes()) == 2


def test_clear_removes_unused_environments(tmp_path: Path, package_index) -> None:
    package_index.add("dsp-tiny-f", "1.0")
    envs = StepEnvironments(tmp_path)
    python = envs.python_for(["dsp-tiny-f"], [package_index.url], io.BytesIO())
    assert StepEnvironments(tmp_path).clear() == []  # in use by `envs`
    envs.close()
    assert StepEnvironments(tmp_path).clear() == [Path(python).parent.parent.name]
    assert not Path(python).exists()
    assert not (tmp_path / "uv-cache").exists()


def test_install_request_read_from_a_compiled_step(tmp_path: Path, package_index) -> None:
    """packages_to_install and pip_index_urls as the compiler writes them; the step's
    ``python3`` resolves to the environment with step_environ."""
    from kfp import compiler, dsl

    from jupyter_dsp.stack.runner.environments import step_environ, step_install_request

    package_index.add("dsp-tiny-g", "1.0", "VALUE = 'g'\n")

    @dsl.component(
        base_image="python:3.11",
        packages_to_install=["dsp-tiny-g==1.0"],
        pip_index_urls=[package_index.url, "https://mirror.example/simple"],
    )
    def step() -> str:
        import dsp_tiny_g

        return dsp_tiny_g.VALUE

    path = tmp_path / "c.yaml"
    compiler.Compiler().compile(step, str(path))
    import yaml

    container = yaml.safe_load(path.read_text())["deploymentSpec"]["executors"]["exec-step"][
        "container"
    ]
    full = container["command"] + container["args"]
    packages, urls = step_install_request(full)
    assert packages == ["dsp-tiny-g==1.0"]
    assert urls == [package_index.url, "https://mirror.example/simple"]
    assert step_install_request(["python3", "-c", "pass"]) == ([], [])
    python = StepEnvironments(tmp_path / "envs").python_for(packages, urls[:1], io.BytesIO())
    env = step_environ(python, {"PATH": "/usr/bin:/bin"})
    done = subprocess.run(
        ["sh", "-c", "python3 -c 'import dsp_tiny_g; print(dsp_tiny_g.VALUE)'"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert done.stdout.strip() == "g", done.stderr
    assert step_environ(sys.executable, {"PATH": "/bin"}) == {"PATH": "/bin"}
