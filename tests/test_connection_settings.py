"""DSPSettings: config files on the Jupyter config path, parent config, environment."""

from __future__ import annotations

import json

import pytest
from jupyter_core.paths import jupyter_config_path
from traitlets.config import Config

from jupyter_dsp.connection import DSPSettings

pytest_plugins = ("fixtures_cluster",)


def test_files_on_config_path_user_dir_wins(clean_dsp_env, tmp_path):
    user, system = tmp_path / "user", tmp_path / "system"
    user.mkdir()
    system.mkdir()
    (system / "jupyter_dsp_config.json").write_text(
        json.dumps({"DSPSettings": {"endpoint": "http://system:1", "namespace": "sys-ns"}})
    )
    (user / "jupyter_dsp_config.py").write_text("c.DSPSettings.endpoint = 'http://user:2'\n")
    s = DSPSettings.load(config_paths=[str(user), str(system)])
    assert s.endpoint == "http://user:2"
    assert s.namespace == "sys-ns"


def test_default_config_path_is_jupyters(clean_dsp_env, tmp_path):
    clean_dsp_env.setenv("JUPYTER_CONFIG_DIR", str(tmp_path))
    # in a virtualenv Jupyter puts the environment's config dir first unless told otherwise
    clean_dsp_env.setenv("JUPYTER_PREFER_ENV_PATH", "0")
    assert str(tmp_path) == jupyter_config_path()[0]
    (tmp_path / "jupyter_dsp_config.json").write_text(
        json.dumps({"DSPSettings": {"shared_policy": "off"}})
    )
    assert DSPSettings.load().shared_policy == "off"


def test_parent_config_then_environment(clean_dsp_env, tmp_path):
    (tmp_path / "jupyter_dsp_config.json").write_text(
        json.dumps({"DSPSettings": {"endpoint": "http://file:1", "namespace": "file-ns"}})
    )
    server_config = Config({"DSPSettings": {"endpoint": "http://server:2"}})
    s = DSPSettings.load(server_config, config_paths=[str(tmp_path)])
    assert (s.endpoint, s.namespace) == ("http://server:2", "file-ns")
    clean_dsp_env.setenv("JUPYTER_DSP_ENDPOINT", "http://env:3")
    clean_dsp_env.setenv("JUPYTER_DSP_EMBEDDED", "false")
    clean_dsp_env.setenv("JUPYTER_DSP_REQUEST_TIMEOUT", "7.5")
    s = DSPSettings.load(server_config, config_paths=[str(tmp_path)])
    assert s.endpoint == "http://env:3"
    assert s.embedded is False
    assert s.request_timeout == 7.5


def test_bad_environment_values_are_named(clean_dsp_env):
    clean_dsp_env.setenv("JUPYTER_DSP_EMBEDDED", "maybe")
    with pytest.raises(ValueError, match="JUPYTER_DSP_EMBEDDED"):
        DSPSettings.load(config_paths=[])
    clean_dsp_env.delenv("JUPYTER_DSP_EMBEDDED")
    clean_dsp_env.setenv("JUPYTER_DSP_CONNECT_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="JUPYTER_DSP_CONNECT_TIMEOUT"):
        DSPSettings.load(config_paths=[])


def test_policy_defaults():
    s = DSPSettings()
    assert s.policy_for(embedded=True) == "read-write"
    assert s.policy_for(embedded=False) == "read-only"
    s.shared_policy = "Read-Only"
    assert s.policy_for(embedded=True) == "read-only"
