"""Container steps: engine detection (Docker/Podman sockets, DOCKER_HOST), the fail-fast
refusal without an engine, and the one-step component handed to kfp.local's runners."""

import os
import socket
from pathlib import Path

import pytest
import yaml
from kfp import compiler, dsl, local

from jupyter_dsp.stack.runner.containers import (
    DOCKER_SOCKET,
    ContainerEngineError,
    find_container_engine,
    run_container_step,
)
from jupyter_dsp.stack.runner.locality import wants_container

no_docker_here = pytest.mark.skipif(
    os.path.exists(DOCKER_SOCKET), reason="this machine has a Docker socket"
)


@dsl.component(base_image="python:3.11")
def shout(text: str, data: dsl.Input[dsl.Dataset], out: dsl.Output[dsl.Dataset]) -> str:
    content = open(data.path).read()
    with open(out.path, "w") as handle:
        handle.write(content.upper() + text)
    out.metadata["chars"] = len(content)
    return content + text


@dsl.container_component
def echo(msg: str):
    return dsl.ContainerSpec(image="alpine:3.20", command=["echo"], args=[msg])


@dsl.pipeline
def steps(text: str = "!"):
    imp = dsl.importer(artifact_uri="/tmp/in.txt", artifact_class=dsl.Dataset)
    shout(text=text, data=imp.output)
    echo(msg=text)


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict:
    path = tmp_path_factory.mktemp("spec") / "steps.yaml"
    compiler.Compiler().compile(steps, str(path))
    return yaml.safe_load(path.read_text())


def _listening_socket(path: Path) -> socket.socket:
    path.parent.mkdir(parents=True, exist_ok=True)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(4)
    return server


@no_docker_here
def test_detects_a_rootless_podman_socket(tmp_path: Path) -> None:
    assert find_container_engine({"XDG_RUNTIME_DIR": str(tmp_path)}) is None
    sock_path = tmp_path / "podman" / "podman.sock"
    server = _listening_socket(sock_path)
    try:
        assert find_container_engine({"XDG_RUNTIME_DIR": str(tmp_path)}) == f"unix://{sock_path}"
    finally:
        server.close()
    # the socket file is still there but nobody listens: not an engine
    assert sock_path.exists()
    assert find_container_engine({"XDG_RUNTIME_DIR": str(tmp_path)}) is None


def test_docker_host_wins(tmp_path: Path) -> None:
    assert find_container_engine({"DOCKER_HOST": "tcp://10.0.0.5:2376"}) == "tcp://10.0.0.5:2376"
    sock_path = tmp_path / "d.sock"
    assert find_container_engine({"DOCKER_HOST": f"unix://{sock_path}"}) is None
    server = _listening_socket(sock_path)
    try:
        assert find_container_engine({"DOCKER_HOST": f"unix://{sock_path}"}) == (
            f"unix://{sock_path}"
        )
    finally:
        server.close()


@no_docker_here
def test_without_an_engine_a_container_step_fails_fast_naming_step_and_image(
    tmp_path: Path, spec: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    if find_container_engine() is not None:
        pytest.skip("a Podman engine is reachable on this machine")
    with pytest.raises(ContainerEngineError) as caught:
        run_container_step(
            "echo",
            spec["components"]["comp-echo"],
            "exec-echo",
            spec["deploymentSpec"]["executors"]["exec-echo"],
            {"msg": "hi"},
            {},
            tmp_path / "root",
        )
    message = str(caught.value)
    assert "'echo'" in message and "'alpine:3.20'" in message
    assert "no container engine" in message
    assert not (tmp_path / "root").exists()  # nothing was started


def test_which_steps_want_a_container(spec: dict) -> None:
    def command(label: str) -> list[str]:
        container = spec["deploymentSpec"]["executors"][label]["container"]
        return container.get("command", []) + container.get("args", [])

    assert wants_container(command("exec-echo"), python_in_containers=False)
    assert not wants_container(command("exec-shout"), python_in_containers=False)
    assert wants_container(command("exec-shout"), python_in_containers=True)


def test_a_step_runs_as_a_one_step_component_under_kfp_local(tmp_path: Path, spec: dict) -> None:
    """The same path the Docker runner takes, with kfp.local's subprocess runner (no engine
    here): parameters in, an input artifact through an importer, outputs back."""
    source = tmp_path / "in.txt"
    source.write_text("hello ")
    outputs = run_container_step(
        "shout",
        spec["components"]["comp-shout"],
        "exec-shout",
        spec["deploymentSpec"]["executors"]["exec-shout"],
        {"text": "!"},
        {
            "data": [
                {
                    "name": "data",
                    "uri": str(source),
                    "schema_title": "system.Dataset",
                    "metadata": {},
                }
            ]
        },
        tmp_path / "root",
        runner=local.SubprocessRunner(use_venv=False),
    )
    assert outputs["parameters"] == {"Output": "hello !"}
    [out] = outputs["artifacts"]["out"]
    assert out["schema_title"] == "system.Dataset"
    assert out["metadata"] == {"chars": 6}
    assert Path(out["uri"]).read_text() == "HELLO !"
    assert Path(out["uri"]).is_relative_to(tmp_path / "root")
