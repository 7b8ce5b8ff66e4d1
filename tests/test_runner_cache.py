"""Step caching (jupyter_dsp/stack/runner/cache.py): keys as KFP computes them, hits that
give back the outputs and copies of the files, switches that turn it off, clearing."""

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from kfp import compiler, dsl

from jupyter_dsp.stack.runner.cache import (
    StepCache,
    cache_root,
    caching_enabled,
    clear_step_cache,
    fingerprint,
)


@dsl.component(base_image="python:3.11")
def double(x: int, data: dsl.Input[dsl.Dataset], out: dsl.Output[dsl.Dataset]) -> int:
    open(out.path, "w").write(open(data.path).read() * 2)
    return 2 * x


@dsl.pipeline
def twice(x: int = 1):
    imp = dsl.importer(artifact_uri="/tmp/x", artifact_class=dsl.Dataset)
    first = double(x=x, data=imp.output)
    second = double(x=first.outputs["Output"], data=first.outputs["out"])
    second.set_caching_options(False)


def _spec(tmp_path: Path, pipeline: Any = twice) -> dict[str, Any]:
    path = tmp_path / "p.yaml"
    compiler.Compiler().compile(pipeline, str(path))
    return yaml.safe_load(path.read_text())


def _inputs(x: int, uri: str) -> dict[str, Any]:
    return {
        "parameters": {"x": x},
        "artifacts": {"data": [{"uri": uri, "metadata": {}, "schema_title": "system.Dataset"}]},
    }


def test_key_follows_inputs_and_component_not_artifact_location(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    a = tmp_path / "a.txt"
    b = tmp_path / "elsewhere" / "b.txt"
    b.parent.mkdir()
    a.write_text("same bytes")
    b.write_text("same bytes")
    key = fingerprint(spec, "exec-double", _inputs(1, str(a)))
    assert len(key) == 64
    # the same content elsewhere (a copy handed back by a cache hit) gives the same key
    assert fingerprint(spec, "exec-double", _inputs(1, f"file://{b}")) == key
    assert fingerprint(spec, "exec-double", _inputs(2, str(a))) != key
    b.write_text("other bytes")
    assert fingerprint(spec, "exec-double", _inputs(1, str(b))) != key
    # a changed function body changes the command, hence the key
    edited = yaml.safe_load(yaml.safe_dump(spec))
    container = edited["deploymentSpec"]["executors"]["exec-double"]["container"]
    container["args"] = container["args"] + ["--changed"]
    assert fingerprint(edited, "exec-double", _inputs(1, str(a))) != key
    # the component with its executor, instead of the whole pipeline spec, gives the same key
    component = {**spec["components"]["comp-double"]}
    component["executor"] = spec["deploymentSpec"]["executors"]["exec-double"]
    assert fingerprint(component, "exec-double", _inputs(1, str(a))) == key
    # a custom cache key (cachingOptions.cacheKey) replaces the computed one
    custom = fingerprint(spec, "exec-double", _inputs(1, str(a)), cache_key="v1")
    assert custom == fingerprint(spec, "exec-double", _inputs(9, str(b)), cache_key="v1")
    assert custom != key


def test_enable_cache_comes_from_the_task_and_the_stack_setting(tmp_path: Path) -> None:
    tasks = _spec(tmp_path)["root"]["dag"]["tasks"]
    assert caching_enabled(tasks["double"]) is True
    assert caching_enabled(tasks["double-2"]) is False  # set_caching_options(False)
    assert caching_enabled(tasks["double"], stack_setting=False) is False


def test_store_and_lookup_give_outputs_and_file_copies(tmp_path: Path) -> None:
    cache = StepCache(cache_root(tmp_path))
    produced = tmp_path / "run1" / "out"
    produced.parent.mkdir()
    produced.write_text("payload")
    folder = tmp_path / "run1" / "model"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "w.bin").write_bytes(b"\x00\x01")
    artifacts = {
        "out": [
            {
                "name": "out",
                "uri": str(produced),
                "schema_title": "system.Dataset",
                "metadata": {"rows": 3},
            }
        ],
        "model": [
            {"name": "model", "uri": str(folder), "schema_title": "system.Model", "metadata": {}}
        ],
    }
    assert cache.lookup("f" * 64) is None
    cache.store("f" * 64, {"Output": 4}, artifacts)
    hit = cache.lookup("f" * 64)
    assert hit is not None
    assert hit.parameters == {"Output": 4}
    out = hit.artifacts["out"][0]
    assert out["metadata"] == {"rows": 3} and out["schema_title"] == "system.Dataset"
    assert Path(out["uri"]).read_text() == "payload"
    assert Path(out["uri"]).is_relative_to(cache.root)  # a copy, not the run's file
    produced.write_text("changed later by someone")
    assert Path(cache.lookup("f" * 64).artifacts["out"][0]["uri"]).read_text() == "payload"
    # copy_to gives a new run its own files at the URIs it would have given the step
    run2 = tmp_path / "run2"
    copied = hit.copy_to({"out": [str(run2 / "out")], "model": [str(run2 / "model")]})
    assert copied["out"][0]["uri"] == str(run2 / "out")
    assert (run2 / "out").read_text() == "payload"
    assert (run2 / "model" / "sub" / "w.bin").read_bytes() == b"\x00\x01"


def test_missing_files_are_a_miss_and_clear_forgets(tmp_path: Path) -> None:
    cache = StepCache(cache_root(tmp_path))
    produced = tmp_path / "out"
    produced.write_text("x")
    art = {
        "out": [
            {"name": "out", "uri": str(produced), "schema_title": "system.Artifact", "metadata": {}}
        ]
    }
    cache.store("a" * 64, {}, art)
    cache.store("b" * 64, {"p": "v"}, {})
    copy = Path(cache.lookup("a" * 64).artifacts["out"][0]["uri"])
    copy.unlink()
    assert cache.lookup("a" * 64) is None
    assert cache.entries() == ["a" * 64, "b" * 64]
    assert cache.remove("b" * 64) and cache.lookup("b" * 64) is None
    assert clear_step_cache(tmp_path) == 1
    assert cache.entries() == []
    # a step whose output file does not exist is not cached at all
    missing = {
        "out": [{"name": "out", "uri": str(tmp_path / "gone"), "schema_title": "", "metadata": {}}]
    }
    cache.store("c" * 64, {}, missing)
    assert cache.lookup("c" * 64) is None


def test_cli_cache_clear(tmp_path: Path) -> None:
    cache = StepCache(cache_root(tmp_path))
    cache.store("d" * 64, {"p": 1}, {})
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "jupyter_dsp.cli",
            "stack",
            "cache",
            "clear",
            "--data-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "cleared 1 cached step" in done.stdout
    assert cache.lookup("d" * 64) is None


def test_step_settings_from_jupyter_settings_reach_the_stack_process(tmp_path: Path) -> None:
    """DSPSettings (here from JUPYTER_DSP_* variables) -> StepSettings -> the options of the
    stack process the server starts."""
    import psutil

    from jupyter_dsp.connection.settings import DSPSettings
    from jupyter_dsp.stack import start_stack
    from jupyter_dsp.stack.runner.step_settings import StepSettings

    settings = DSPSettings.load(
        environ={
            "JUPYTER_DSP_STEP_CACHING": "false",
            "JUPYTER_DSP_STEP_ENV_CACHE_SIZE": "1.5G",
            "JUPYTER_DSP_PYTHON_IN_CONTAINERS": "true",
        },
        config_paths=[],
    )
    steps = StepSettings.from_settings(settings)
    assert steps == StepSettings(int(1.5 * 1024**3), False, True)
    assert StepSettings.from_settings(DSPSettings.load(environ={}, config_paths=[])) == (
        StepSettings()
    )
    handle = start_stack(tmp_path / "data", steps=steps)
    try:
        cmdline = psutil.Process(handle.pid).cmdline()
    finally:
        handle.stop()
    assert cmdline[cmdline.index("--env-cache-size") + 1] == str(int(1.5 * 1024**3))
    assert "--no-step-cache" in cmdline and "--python-in-containers" in cmdline


# ----- end to end: repeated runs through the embedded stack ----------------------------------


@dsl.component(base_image="python:3.11")
def produce(n: int, out: dsl.Output[dsl.Dataset]) -> str:
    import uuid

    token = uuid.uuid4().hex  # differs on every real execution
    with open(out.path, "w") as handle:
        handle.write(f"{n}:{token}")
    return token


@dsl.component(base_image="python:3.11")
def consume(data: dsl.Input[dsl.Dataset]) -> str:
    import uuid

    return open(data.path).read() + "|" + uuid.uuid4().hex


@dsl.pipeline(name="cache-pair")
def pair(n: int = 1) -> str:
    first = produce(n=n)
    return consume(data=first.outputs["out"]).output


def _client_run(stack, arguments: dict, enable_caching: bool) -> dict:
    import kfp
    from stack_http import call

    client = kfp.Client(host=stack.url, existing_token=stack.token)
    created = client.create_run_from_pipeline_func(
        pair, arguments=arguments, enable_caching=enable_caching, namespace="default"
    )
    client.wait_for_run_completion(created.run_id, timeout=180, sleep_duration=0.2)
    run = call(stack, "GET", f"/runs/{created.run_id}").json()
    assert run["state"] == "SUCCEEDED", run.get("error")
    return run


def _tasks(run: dict) -> dict[str, dict]:
    return {
        t["display_name"]: t
        for t in run["run_details"]["task_details"]
        if t["display_name"] in ("produce", "consume")
    }


def _dataset(task: dict) -> str:
    [artifact] = task["output_artifacts"]["out"]
    return Path(artifact["uri"]).read_text()


@pytest.fixture(scope="module")
def cache_stack(tmp_path_factory: pytest.TempPathFactory):
    from jupyter_dsp.stack import start_stack

    handle = start_stack(tmp_path_factory.mktemp("cache-stack") / "data")
    try:
        yield handle
    finally:
        handle.stop()


def test_repeated_run_with_caching_is_cached_with_the_same_outputs(cache_stack) -> None:
    first = _tasks(_client_run(cache_stack, {"n": 7}, enable_caching=True))
    assert {t["state"] for t in first.values()} == {"SUCCEEDED"}
    second = _tasks(_client_run(cache_stack, {"n": 7}, enable_caching=True))
    assert {name: t["state"] for name, t in second.items()} == {
        "produce": "CACHED",
        "consume": "CACHED",
    }
    for name in ("produce", "consume"):
        assert second[name]["output_parameters"] == first[name]["output_parameters"]
    assert _dataset(second["produce"]) == _dataset(first["produce"])
    # the run owns its copy of the artifact (not the first run's file, not the cache's)
    assert (
        second["produce"]["output_artifacts"]["out"][0]["uri"]
        != (first["produce"]["output_artifacts"]["out"][0]["uri"])
    )
    # other inputs: executed again
    other = _tasks(_client_run(cache_stack, {"n": 8}, enable_caching=True))
    assert {t["state"] for t in other.values()} == {"SUCCEEDED"}


def test_without_caching_nothing_is_cached_and_clear_forgets(cache_stack) -> None:
    _client_run(cache_stack, {"n": 21}, enable_caching=True)
    off = _tasks(_client_run(cache_stack, {"n": 21}, enable_caching=False))
    assert {t["state"] for t in off.values()} == {"SUCCEEDED"}
    assert clear_step_cache(cache_stack.data_dir) >= 2
    after = _tasks(_client_run(cache_stack, {"n": 21}, enable_caching=True))
    assert {t["state"] for t in after.values()} == {"SUCCEEDED"}


def test_the_stack_setting_turns_caching_off(tmp_path: Path) -> None:
    from jupyter_dsp.stack import start_stack
    from jupyter_dsp.stack.runner.step_settings import StepSettings

    handle = start_stack(tmp_path / "data", steps=StepSettings(step_caching=False))
    try:
        first = _tasks(_client_run(handle, {"n": 3}, enable_caching=True))
        second = _tasks(_client_run(handle, {"n": 3}, enable_caching=True))
    finally:
        handle.stop()
    assert {t["state"] for t in (*first.values(), *second.values())} == {"SUCCEEDED"}
    assert second["produce"]["output_parameters"] != first["produce"]["output_parameters"]
