"""Fixture for the reliability tests that go through the server extension's proxy.

A module lists ``"fixtures_reliability"`` in ``pytest_plugins`` (next to pytest-jupyter's server,
``fixtures_cluster`` and ``fixtures_server``) and returns ``dsp_server_config`` from its own
``jp_server_config`` fixture.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def behind_proxy(dsp_config, stack_factory, tmp_path):
    """A fresh stack, configured (endpoint + token file) as the project stack of the Jupyter
    server under test; ``handle.token_file`` is the file the proxy reads the token from."""
    handle = stack_factory(data_dir=tmp_path / "proxied-stack")
    token_file = tmp_path / "stack-token"
    token_file.write_text(handle.token)
    dsp_config.update(endpoint=handle.url, token_file=str(token_file), namespace="default")
    handle.token_file = token_file
    return handle
