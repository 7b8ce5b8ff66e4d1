"""Issue 10: out of a cluster the Jupyter server starts the embedded stack when it starts (in
the background), so a kernel's ``%dsp`` works before the panel ever called the server; a kernel
that finds the server still starting it waits instead of failing."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jupyter_dsp.connection import DSPSettings, NoStackFound, resolve
from jupyter_dsp.connection.embedded import STARTING_FILE_NAME

pytest_plugins = ("pytest_jupyter.jupyter_server", "fixtures_cluster", "fixtures_server")


@pytest.fixture
def jp_server_config(dsp_server_config):
    return dsp_server_config


@pytest.fixture
def kernel_env(clean_dsp_env, dsp_config):
    clean_dsp_env.setenv("JUPYTER_DSP_SA_DIR", dsp_config["sa_dir"])
    return clean_dsp_env


async def test_kernel_finds_the_stack_before_any_request_to_the_server(
    kernel_env, jp_serverapp, jp_runtime_dir
):
    # nothing has called dsp/* on this server: no panel, no request
    started = time.monotonic()
    conn = await asyncio.to_thread(resolve, DSPSettings.load(config_paths=[]))
    assert conn.mode == "embedded"
    assert conn.project.endpoint.startswith("http://127.0.0.1:")
    assert time.monotonic() - started < 30
    announced = json.loads((Path(jp_runtime_dir) / "jupyter-dsp-stack.json").read_text())
    assert announced["owner_pid"] == os.getpid()
    assert not (Path(jp_runtime_dir) / STARTING_FILE_NAME).exists()  # done starting


def test_a_stale_starting_file_does_not_make_kernels_wait(kernel_env, tmp_path, monkeypatch):
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(runtime))
    monkeypatch.setenv("JUPYTER_DSP_EMBEDDED_DATA_DIR", str(tmp_path / "stack"))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (runtime / STARTING_FILE_NAME).write_text(
        json.dumps({"owner_pid": dead.pid, "data_dir": str(tmp_path / "stack")})
    )
    started = time.monotonic()
    with pytest.raises(NoStackFound):
        resolve(DSPSettings.load(config_paths=[]))
    assert time.monotonic() - started < 3
