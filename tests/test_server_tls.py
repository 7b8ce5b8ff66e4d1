"""TLS to the stack: verified against the configured CA bundle; a failure names the file."""

from __future__ import annotations

import json

import pytest
from server_helpers import RecordingUpstream, make_ca, server_tls_context
from tornado.httpclient import HTTPClientError

pytest_plugins = ("pytest_jupyter.jupyter_server", "fixtures_cluster", "fixtures_server")

API = ("dsp", "api", "project", "apis", "v2beta1")


@pytest.fixture
def jp_server_config(dsp_server_config):
    return dsp_server_config


@pytest.fixture
def tls_upstream(tmp_path):
    ca_path, ca_cert, ca_key = make_ca(tmp_path, "service-ca")
    up = RecordingUpstream().start(server_tls_context(tmp_path, ca_cert, ca_key))
    up.ca_path = ca_path
    yield up
    up.stop()


@pytest.fixture
def right_ca(dsp_config, tls_upstream, tmp_path):
    (tmp_path / "token").write_text("tls-token-0123456789")
    dsp_config.update(
        endpoint=tls_upstream.url,
        token_file=str(tmp_path / "token"),
        ca_bundle=str(tls_upstream.ca_path),
    )
    return tls_upstream


@pytest.fixture
def wrong_ca(dsp_config, tls_upstream, tmp_path):
    other, _, _ = make_ca(tmp_path, "some-other-ca")
    (tmp_path / "token").write_text("tls-token-0123456789")
    dsp_config.update(endpoint=tls_upstream.url, token_file=str(tmp_path / "token"))
    dsp_config["ca_bundle"] = str(other)
    return other


async def test_tls_verified_with_the_ca_bundle(right_ca, jp_fetch):
    r = await jp_fetch(*API, "pipelines")
    assert r.code == 200
    assert right_ca.seen[-1]["headers"]["Authorization"] == "Bearer tls-token-0123456789"
    info = json.loads((await jp_fetch("dsp", "info")).body)
    assert info["healthy"] is True


async def test_tls_failure_names_the_ca_file(wrong_ca, jp_fetch):
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch(*API, "pipelines")
    assert err.value.code == 502
    message = json.loads(err.value.response.body)["message"]
    assert str(wrong_ca) in message and "TLS verification" in message
    info = json.loads((await jp_fetch("dsp", "info")).body)
    assert info["healthy"] is False and str(wrong_ca) in info["error"]
