"""Fixtures for the server-extension tests.

- ``dsp_config``/``dsp_server_config``: pytest-jupyter's server with the jupyter_dsp extension
  and DSPSettings that a test's own fixtures fill in before the server starts;
- ``proxied_stack``: a fresh stack configured as the project stack of the server under test;
- ``recording_upstream``: see server_helpers.RecordingUpstream.
"""

from __future__ import annotations

from typing import Any

import pytest
from server_helpers import RecordingUpstream


@pytest.fixture
def dsp_config(clean_dsp_env, tmp_path) -> dict[str, Any]:
    """DSPSettings for the server under test; tests fill it before requesting jp_fetch."""
    return {
        "sa_dir": str(tmp_path / "no-service-account"),
        "runtimes_dir": str(tmp_path / "no-runtimes"),
        "kubeflow_token_path": str(tmp_path / "no-kubeflow-token"),
        "probe_timeout": 3.0,
    }


@pytest.fixture
def dsp_server_config(dsp_config):
    """Server config for pytest-jupyter. A test module opts in with its own
    ``jp_server_config`` fixture returning this one (not overridden globally, so other
    parts' tests keep pytest-jupyter's default). It holds dsp_config itself, which a test's
    fixtures fill in before the server starts."""
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_dsp": True}},
        "DSPSettings": dsp_config,
    }


@pytest.fixture
def proxied_stack(dsp_config, stack_factory, tmp_path):
    """A fresh multi-user stack, configured (endpoint + token file) as the project stack of the
    Jupyter server under test (mode "configured"); ``handle.token_file`` is the file the proxy
    reads the token from. Its data dir is fixed, so a test can restart it on the same data."""
    handle = stack_factory(data_dir=tmp_path / "proxied-stack")
    token_file = tmp_path / "stack-token"
    token_file.write_text(handle.token)
    dsp_config.update(endpoint=handle.url, token_file=str(token_file), namespace="default")
    handle.token_file = token_file
    return handle


@pytest.fixture
def jupyter_token(jp_serverapp) -> str:
    return jp_serverapp.identity_provider.token


@pytest.fixture
def server_url(jp_fetch, jp_http_port, jp_base_url) -> str:
    """``http://127.0.0.1:PORT{base_url}`` of the running test server (listening)."""
    return f"http://127.0.0.1:{jp_http_port}{jp_base_url}"


@pytest.fixture
def recording_upstream():
    up = RecordingUpstream().start()
    yield up
    up.stop()
