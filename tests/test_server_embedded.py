"""Out of a cluster with nothing configured: the server starts the embedded stack (data in
Jupyter's data dir), announces it to kernels in a 0600 runtime file, reuses a running one and
stops only the one it owns."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import pytest

from jupyter_dsp.connection import DSPSettings, resolve
from jupyter_dsp.connection.embedded import pid_alive
from jupyter_dsp.server.state import DSPState

pytest_plugins = ("pytest_jupyter.jupyter_server", "fixtures_cluster", "fixtures_server")


@pytest.fixture
def jp_server_config(dsp_server_config):
    return dsp_server_config


@pytest.fixture
def kernel_env(clean_dsp_env, dsp_config):
    """What a kernel on the same machine sees: no cluster, nothing configured."""
    clean_dsp_env.setenv("JUPYTER_DSP_SA_DIR", dsp_config["sa_dir"])
    return clean_dsp_env


async def test_embedded_stack_lifecycle(
    kernel_env, jp_fetch, jp_serverapp, jp_runtime_dir, jp_data_dir
):
    r = await jp_fetch("dsp", "info")
    info = json.loads(r.body)
    assert info["mode"] == "embedded"
    assert info["healthy"] is True
    assert info["identity"] == "embedded:default"
    assert info["spaces"]["shared"]["writable"] is True  # a laptop: read-write by default

    announced = Path(jp_runtime_dir) / "jupyter-dsp-stack.json"
    assert stat.S_IMODE(announced.stat().st_mode) == 0o600
    data = json.loads(announced.read_text())
    assert data["owner_pid"] == os.getpid()
    assert urlsplit(data["url"]).netloc == info["spaces"]["project"]["endpoint_host"]
    assert pid_alive(data["pid"])
    assert data["token"] not in r.body.decode()
    assert (Path(jp_data_dir) / "dsp" / "stack" / "stack.json").is_file()

    # a kernel resolves the same stack from the runtime file
    conn = await asyncio.to_thread(resolve, DSPSettings.load(config_paths=[]))
    assert conn.mode == "embedded"
    assert conn.project.endpoint == data["url"]
    assert conn.project.token() == data["token"]

    # the proxy reaches it
    r = await jp_fetch("dsp", "api", "project", "apis", "v2beta1", "pipelines")
    assert r.code == 200

    # another server reuses the running stack and does not stop it
    other = DSPState(DSPSettings.load(config_paths=[]))
    other_conn = await other.connection()
    assert other_conn.project.endpoint == data["url"]
    assert other.embedded is not None and not other.embedded.owned
    await other.stop()
    assert pid_alive(data["pid"]) and announced.exists()

    # the owner stops it and withdraws the announcement
    state: DSPState = jp_serverapp.web_app.settings["jupyter_dsp_state"]
    await state.stop()
    for _ in range(50):
        if not pid_alive(data["pid"]):
            break
        await asyncio.sleep(0.1)
    assert not pid_alive(data["pid"])
    assert not announced.exists()


async def test_crashed_embedded_stack_is_restarted(kernel_env, jp_fetch, jp_runtime_dir):
    from tornado.httpclient import HTTPClientError

    api = ("dsp", "api", "project", "apis", "v2beta1", "pipelines")
    assert (await jp_fetch(*api)).code == 200
    announced = Path(jp_runtime_dir) / "jupyter-dsp-stack.json"
    first = json.loads(announced.read_text())
    os.kill(first["pid"], 9)
    for _ in range(100):  # until it has exited (a zombie until its handle reaps it)
        if not pid_alive(first["pid"]) or psutil.Process(first["pid"]).status() == "zombie":
            break
        await asyncio.sleep(0.05)
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch(*api)
    assert err.value.code == 502
    # the next request starts it again (same data dir, so the same pipelines and token)
    r = await jp_fetch(*api)
    assert r.code == 200
    second = json.loads(announced.read_text())
    assert second["pid"] != first["pid"] and pid_alive(second["pid"])
