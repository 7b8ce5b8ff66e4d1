"""dsp/logs out of a cluster: the stack's logs endpoint, passed through with its headers."""

from __future__ import annotations

import json

import pytest
from tornado.httpclient import HTTPClientError

pytest_plugins = ("pytest_jupyter.jupyter_server", "fixtures_cluster", "fixtures_server")


@pytest.fixture
def jp_server_config(dsp_server_config):
    return dsp_server_config


@pytest.fixture
def recorded(dsp_config, recording_upstream, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("stack-token-secret")
    dsp_config.update(endpoint=recording_upstream.url, token_file=str(token_file))
    recording_upstream.content_type = "text/plain; charset=utf-8"
    recording_upstream.body = b"hello from the task\n"
    recording_upstream.reply_headers = {"X-Log-Next-Offset": "27", "X-Log-Complete": "false"}
    return recording_upstream


async def test_logs_from_the_stack_endpoint(recorded, jp_fetch):
    r = await jp_fetch("dsp", "logs", "run-1", "task-a", params={"offset": "7"})
    assert r.body == b"hello from the task\n"
    assert r.headers["X-Log-Next-Offset"] == "27"
    assert r.headers["X-Log-Complete"] == "false"
    assert r.headers["Content-Type"].startswith("text/plain")
    seen = recorded.seen[-1]
    assert seen["uri"] == "/apis/v2beta1/runs/run-1/tasks/task-a/logs?offset=7"
    assert seen["headers"]["Authorization"] == "Bearer stack-token-secret"


async def test_logs_errors_are_kfp_json(recorded, jp_fetch):
    recorded.status = 404
    recorded.content_type = "application/json"
    recorded.reply_headers = {}
    recorded.body = json.dumps({"code": 5, "message": "no such task", "details": []}).encode()
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("dsp", "logs", "run-1", "nope")
    assert err.value.code == 404
    assert json.loads(err.value.response.body)["message"] == "no such task"
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("dsp", "logs", "run-1", "task-a", params={"offset": "x"})
    assert err.value.code == 400
    assert json.loads(err.value.response.body)["code"] == 3
