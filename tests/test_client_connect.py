"""connect(): the same resolution as the server extension (env settings, embedded runtime file)."""

from __future__ import annotations

import json
import os

import pytest
from kernel_helpers import write_pipeline

import jupyter_dsp
from jupyter_dsp.client import DSPError


@pytest.fixture
def clean_env(tmp_path, monkeypatch):
    """No configuration but what a test sets; not in a cluster; a private runtime dir."""
    for name in list(os.environ):
        if name.startswith(("JUPYTER_DSP_", "KF_PIPELINES_")):
            monkeypatch.delenv(name)
    (tmp_path / "sa").mkdir()
    (tmp_path / "config").mkdir()
    monkeypatch.setenv("JUPYTER_DSP_SA_DIR", str(tmp_path / "sa"))
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", str(tmp_path / "config"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    return monkeypatch


def test_connect_with_settings_from_the_environment(stack, clean_env, tmp_path, unique_name):
    clean_env.setenv("JUPYTER_DSP_ENDPOINT", stack.url)
    clean_env.setenv("JUPYTER_DSP_TOKEN_FILE", str(stack.data_dir / "token"))
    clean_env.setenv("JUPYTER_DSP_NAMESPACE", "default")
    clean_env.setenv("JUPYTER_DSP_SHARED_POLICY", "read-write")
    client = jupyter_dsp.connect()
    assert client.mode == "configured" and client.namespace == "default"
    assert client.shared is not None
    name = unique_name("env")
    source = str(write_pipeline(tmp_path, name))
    assert client.upload(source).space == "project"
    assert client.upload(source, shared=True).space == "shared"
    assert client.list_pipelines("shared").by_name(name) is not None
    assert stack.token not in repr(client) + client.info()._text()


def test_read_only_policy_is_respected(stack, clean_env, tmp_path, unique_name):
    clean_env.setenv("JUPYTER_DSP_ENDPOINT", stack.url)
    clean_env.setenv("JUPYTER_DSP_TOKEN_FILE", str(stack.data_dir / "token"))
    clean_env.setenv("JUPYTER_DSP_SHARED_POLICY", "read-only")
    client = jupyter_dsp.connect()
    assert client.policy == "read-only"
    client.list_pipelines("shared")  # reading is fine
    with pytest.raises(DSPError, match="read-only"):
        client.upload(str(write_pipeline(tmp_path, unique_name("ro"))), shared=True)


def test_connect_to_the_embedded_stack_announced_in_the_runtime_file(
    stack, clean_env, tmp_path, unique_name
):
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    announcement = runtime / "jupyter-dsp-stack.json"
    announcement.write_text(
        json.dumps(
            {
                "url": stack.url,
                "token": stack.token,
                "pid": stack.pid,
                "owner_pid": os.getpid(),
                "namespace": "default",
            }
        )
    )
    announcement.chmod(0o600)
    client = jupyter_dsp.connect()
    assert client.mode == "embedded" and client.namespace == "default"
    name = unique_name("emb")
    client.upload(str(write_pipeline(tmp_path, name)))
    assert client.list_pipelines("project").by_name(name) is not None


def test_no_stack_anywhere_says_how_to_configure(clean_env):
    with pytest.raises(DSPError) as info:
        jupyter_dsp.connect()
    assert "JUPYTER_DSP_ENDPOINT" in str(info.value) or "jupyter_dsp" in str(info.value)


def test_connect_with_another_namespace(stack, clean_env, tmp_path, unique_name):
    clean_env.setenv("JUPYTER_DSP_ENDPOINT", stack.url)
    clean_env.setenv("JUPYTER_DSP_TOKEN_FILE", str(stack.data_dir / "token"))
    client = jupyter_dsp.connect(namespace="team-b")
    assert client.namespace == "team-b"
    with pytest.raises(DSPError) as info:  # the default token has no rights on team-b
        client.upload(str(write_pipeline(tmp_path, unique_name("other"))))
    assert info.value.status == 403


def test_single_user_stack_gets_no_namespace_filters(stack_factory, clean_env, tmp_path):
    single = stack_factory(single_user=True)
    clean_env.setenv("JUPYTER_DSP_ENDPOINT", single.url)
    clean_env.setenv("JUPYTER_DSP_TOKEN_FILE", str(single.data_dir / "token"))
    client = jupyter_dsp.connect()
    assert client.single_user
    version = client.upload(str(write_pipeline(tmp_path, "solo")))
    assert client.list_pipelines("project").by_name("solo") is not None
    run = client.run(version, {"a": 1}, wait=True, timeout=240)
    assert run.state == "SUCCEEDED", run.error
    assert run.id in [r.id for r in client.runs(limit=5)]


def test_an_unusable_endpoint_setting_is_one_clear_error(clean_env):
    clean_env.setenv("JUPYTER_DSP_ENDPOINT", "ftp://example")
    with pytest.raises(DSPError) as info:
        jupyter_dsp.connect()
    assert "ftp://example" in str(info.value)
