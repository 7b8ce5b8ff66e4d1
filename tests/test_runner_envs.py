"""Per-step environments (``packages_to_install``): built with uv from a real package index
on loopback (tests/fixtures_pkgindex.py), layered over this environment, never changing it.
"""

import importlib.metadata
import importlib.util
import io
import multiprocessing
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.version import Version

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
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.strip() == "g", done.stderr
    assert step_environ(sys.executable, {"PATH": "/bin"}) == {"PATH": "/bin"}


# ----- end to end: the embedded stack runs steps with packages_to_install -------------------

from kfp import dsl as _dsl  # noqa: E402  (the pipelines below; kfp reads annotations)


@_dsl.component(base_image="python:3.11", packages_to_install=["pyjokes==0.8.3"])
def tell_joke(seed: int) -> str:
    from importlib.metadata import version

    import pyjokes

    print("joke:", pyjokes.get_joke())
    return f"{version('pyjokes')}:{seed}"


@_dsl.pipeline(name="jokes")
def jokes(seed: int = 1) -> str:
    return tell_joke(seed=seed).output


@pytest.fixture(scope="module")
def env_stack(tmp_path_factory: pytest.TempPathFactory):
    from jupyter_dsp.stack import start_stack

    handle = start_stack(tmp_path_factory.mktemp("env-stack") / "data")
    try:
        yield handle
    finally:
        handle.stop()


def _run_to_end(stack, pipeline, arguments: dict, enable_caching: bool = False) -> dict:
    import kfp
    from stack_http import call

    client = kfp.Client(host=stack.url, existing_token=stack.token)
    created = client.create_run_from_pipeline_func(
        pipeline, arguments=arguments, enable_caching=enable_caching, namespace="default"
    )
    client.wait_for_run_completion(created.run_id, timeout=240, sleep_duration=0.3)
    return call(stack, "GET", f"/runs/{created.run_id}").json()


def _task_log(stack, run: dict, task: dict) -> str:
    from stack_http import call

    return call(stack, "GET", f"/runs/{run['run_id']}/tasks/{task['task_id']}/logs").text


def _freeze() -> str:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--all"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_step_with_a_package_runs_twice_building_its_environment_once(env_stack) -> None:
    assert importlib.util.find_spec("pyjokes") is None, "pyjokes must not be installed here"
    frozen = _freeze()
    first = _run_to_end(env_stack, jokes, {"seed": 1})
    assert first["state"] == "SUCCEEDED", first.get("error")
    [task] = first["run_details"]["task_details"]
    assert task["state"] == "SUCCEEDED"
    assert task["output_parameters"] == {"Output": "0.8.3:1"}
    log = _task_log(env_stack, first, task)
    assert "Creating an environment for pyjokes==0.8.3" in log and "joke:" in log

    envs = list((env_stack.data_dir / "environments" / "envs").iterdir())
    assert len(envs) == 1
    python = envs[0] / "bin" / "python"
    built = (python.stat().st_ino, (envs[0] / "pyvenv.cfg").stat().st_mtime_ns)

    second = _run_to_end(env_stack, jokes, {"seed": 2})  # caching off: the step runs again
    assert second["state"] == "SUCCEEDED", second.get("error")
    [task2] = second["run_details"]["task_details"]
    assert task2["state"] == "SUCCEEDED"  # not CACHED: it ran, in the same environment
    assert task2["output_parameters"] == {"Output": "0.8.3:2"}
    log2 = _task_log(env_stack, second, task2)
    assert "Reusing the environment" in log2 and "Creating an environment" not in log2
    assert list((env_stack.data_dir / "environments" / "envs").iterdir()) == envs
    assert (python.stat().st_ino, (envs[0] / "pyvenv.cfg").stat().st_mtime_ns) == built

    assert importlib.util.find_spec("pyjokes") is None
    assert _freeze() == frozen  # the server's environment is unchanged


def test_a_package_that_cannot_be_installed_fails_the_step_naming_it(
    env_stack, package_index
) -> None:
    @_dsl.component(
        base_image="python:3.11",
        packages_to_install=["dsp-surely-missing-pkg==9.9"],
        pip_index_urls=[package_index.url],
    )
    def needs_missing() -> str:
        return "never"

    @_dsl.pipeline(name="missing-package")
    def missing() -> str:
        return needs_missing().output

    run = _run_to_end(env_stack, missing, {})
    assert run["state"] == "FAILED"
    [task] = run["run_details"]["task_details"]
    assert task["state"] == "FAILED"
    message = task["error"]["message"]
    assert "dsp-surely-missing-pkg" in message
    assert "not found" in message  # the installer's reason
    assert "dsp-surely-missing-pkg" in run["error"]["message"]


def test_a_step_compiled_with_a_newer_kfp_gets_that_kfp() -> None:
    """On a cluster the prologue installs the kfp the step was compiled with; a server with an
    older kfp gives the step an environment with that kfp (none when it is the same)."""
    import importlib.metadata

    from jupyter_dsp.stack.runner.environments import runtime_kfp_requirement

    installed = importlib.metadata.version("kfp")

    def prologue(version: str) -> list[str]:
        script = (
            "PIP_DISABLE_PIP_VERSION_CHECK=1 python3 -m pip install --quiet "
            f"'kfp=={version}' '--no-deps' 'typing-extensions>=3.7.4,<5' && \"$0\" \"$@\"\n"
        )
        return ["sh", "-c", script, "sh", "-ec", "python3 -m kfp.dsl.executor_main"]

    assert runtime_kfp_requirement(prologue(installed)) is None
    assert runtime_kfp_requirement(prologue("2.0.0")) is None
    assert runtime_kfp_requirement(prologue("99.1.0")) == "kfp==99.1.0"
    assert runtime_kfp_requirement(["python3", "-c", "pass"]) is None


@pytest.mark.skipif(
    Version(importlib.metadata.version("kfp")) >= Version("2.17.3"),
    reason="runs where the server's kfp is older than 2.17.3 (CI's oldest-kfp pass)",
)
def test_environment_with_a_newer_kfp_over_an_older_server(tmp_path: Path) -> None:
    envs = StepEnvironments(tmp_path)
    log = io.BytesIO()
    python = envs.python_for(["kfp==2.17.3"], [], log)
    assert _run(python, "import kfp; print(kfp.__version__)") == "2.17.3"
    assert "kfp" in log.getvalue().decode()


def test_concurrent_runs_needing_the_same_set_build_it_once(env_stack, package_index) -> None:
    import kfp
    from stack_http import call

    package_index.add("dsp-tiny-h", "1.0", "import time\nVALUE = 'h'\n")

    @_dsl.component(
        base_image="python:3.11",
        packages_to_install=["dsp-tiny-h==1.0"],
        pip_index_urls=[package_index.url],
    )
    def use_h(n: int) -> str:
        import dsp_tiny_h

        return f"{dsp_tiny_h.VALUE}{n}"

    @_dsl.pipeline(name="tiny-h")
    def tiny_h(n: int = 0) -> str:
        return use_h(n=n).output

    client = kfp.Client(host=env_stack.url, existing_token=env_stack.token)
    created = [
        client.create_run_from_pipeline_func(
            tiny_h, arguments={"n": n}, enable_caching=False, namespace="default"
        )
        for n in (1, 2, 3)
    ]
    logs = []
    for n, run in zip((1, 2, 3), created, strict=True):
        client.wait_for_run_completion(run.run_id, timeout=240, sleep_duration=0.3)
        got = call(env_stack, "GET", f"/runs/{run.run_id}").json()
        assert got["state"] == "SUCCEEDED", got.get("error")
        [task] = got["run_details"]["task_details"]
        assert task["output_parameters"] == {"Output": f"h{n}"}
        logs.append(_task_log(env_stack, got, task))
    assert sum("Creating an environment for dsp-tiny-h==1.0" in log for log in logs) == 1
    assert sum("Reusing the environment" in log for log in logs) == 2
