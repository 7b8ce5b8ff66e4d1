"""dsp/info and the extension's behaviour when its settings are wrong."""

from __future__ import annotations

import json

import pytest
from tornado.httpclient import HTTPClientError

pytest_plugins = ("pytest_jupyter.jupyter_server", "fixtures_cluster", "fixtures_server")


@pytest.fixture
def jp_server_config(dsp_server_config):
    return dsp_server_config


@pytest.fixture
def bad_setting(clean_dsp_env):
    clean_dsp_env.setenv("JUPYTER_DSP_EMBEDDED", "perhaps")
    return clean_dsp_env


async def test_bad_setting_is_reported_not_fatal(bad_setting, dsp_config, jp_fetch):
    info = json.loads((await jp_fetch("dsp", "info")).body)
    assert info["healthy"] is False
    assert "JUPYTER_DSP_EMBEDDED" in info["error"]
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("dsp", "api", "project", "apis", "v2beta1", "pipelines")
    assert err.value.code == 503
    assert "JUPYTER_DSP_EMBEDDED" in json.loads(err.value.response.body)["message"]


@pytest.fixture
def nothing_to_find(dsp_config):
    dsp_config["embedded"] = False
    return dsp_config


async def test_no_stack_found_says_what_was_tried(nothing_to_find, jp_fetch):
    info = json.loads((await jp_fetch("dsp", "info")).body)
    assert info["healthy"] is False and info["mode"] is None
    assert "not in a cluster" in info["error"]
    assert "embedded stack: disabled" in info["error"]
    assert "JUPYTER_DSP_ENDPOINT" in info["hint"]
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("dsp", "api", "project", "apis", "v2beta1", "healthz")
    assert err.value.code == 503
    assert json.loads(err.value.response.body)["code"] == 14
