"""Bodies stream through the proxy (chunked uploads, size limit as KFP JSON), upstream
connections are reused, and browser (cookie) writes need Jupyter's XSRF token."""

from __future__ import annotations

import json
from http.cookies import SimpleCookie

import pytest
from server_helpers import HELLO, raw_request
from tornado.httpclient import AsyncHTTPClient, HTTPRequest

pytest_plugins = ("pytest_jupyter.jupyter_server", "fixtures_cluster", "fixtures_server")


@pytest.fixture
def jp_server_config(dsp_server_config):
    return dsp_server_config


API = ("dsp", "api", "project", "apis", "v2beta1")


@pytest.fixture
def stack_behind(dsp_config, stack, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(stack.token)
    dsp_config.update(endpoint=stack.url, token_file=str(token_file), namespace="default")
    return stack


def multipart(content: bytes, boundary: str = "dspboundary") -> tuple[bytes, str]:
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="uploadfile"; '
        'filename="p.yaml"\r\nContent-Type: application/x-yaml\r\n\r\n'
    ).encode()
    return head + content + f"\r\n--{boundary}--\r\n".encode(), boundary


async def test_chunked_upload_streams_through(
    stack_behind, jp_fetch, server_url, jupyter_token, unique_name
):
    padding = b"".join(b"# padding line %06d\n" % i for i in range(40_000))  # ~0.8 MB
    body, boundary = multipart(HELLO.read_bytes() + b"\n" + padding)
    name = unique_name("big")

    async def producer(write):
        for i in range(0, len(body), 64 * 1024):  # no Content-Length: chunked on the wire
            await write(body[i : i + 64 * 1024])

    request = HTTPRequest(
        f"{server_url}dsp/api/project/apis/v2beta1/pipelines/upload?name={name}",
        method="POST",
        headers={
            "Authorization": f"token {jupyter_token}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
        body_producer=producer,
        request_timeout=60,
    )
    response = await AsyncHTTPClient().fetch(request, raise_error=False)
    assert response.code == 200, response.body
    created = json.loads(response.body)
    assert created["display_name"] == name and created["namespace"] == "default"
    r = await jp_fetch(*API, "pipelines", created["pipeline_id"])
    assert json.loads(r.body)["namespace"] == "default"


async def test_oversized_body_is_413_json(
    stack_behind, jp_fetch, jp_http_port, jp_base_url, jupyter_token
):
    status, _, body = await raw_request(
        jp_http_port,
        "POST",
        f"{jp_base_url}dsp/api/project/apis/v2beta1/pipelines/upload?name=x",
        {
            "Authorization": f"token {jupyter_token}",
            "Content-Type": "multipart/form-data; boundary=b",
            "Content-Length": str(200 * 1024 * 1024),
        },
    )
    assert status == 413
    assert "error_message" in json.loads(body)  # the upload endpoints' error shape


async def test_upstream_connections_are_reused(stack_behind, jp_fetch, jp_serverapp):
    for _ in range(10):
        r = await jp_fetch(*API, "pipelines")
        assert r.code == 200
    pool = jp_serverapp.web_app.settings["jupyter_dsp_state"].pool
    # a healthz probe at resolution is separate (urllib); the proxy itself keeps one connection
    assert pool.opened == 1


async def test_browser_writes_need_xsrf(
    stack_behind, jp_fetch, jp_http_port, jp_base_url, unique_name
):
    # log in with the token once, as a browser does; keep the cookies
    login = await jp_fetch("api")
    cookies = SimpleCookie()
    for value in login.headers.get_list("Set-Cookie"):
        cookies.load(value)
    page = await jp_fetch("login", headers={"Authorization": ""})  # sets _xsrf
    for value in page.headers.get_list("Set-Cookie"):
        cookies.load(value)
    assert "_xsrf" in cookies
    jar = "; ".join(f"{k}={m.value}" for k, m in cookies.items())
    target = f"{jp_base_url}dsp/api/project/apis/v2beta1/experiments"
    body = json.dumps({"display_name": unique_name("exp")}).encode()

    status, _, _ = await raw_request(
        jp_http_port, "POST", target, {"Cookie": jar, "Content-Type": "application/json"}, body
    )
    assert status == 403  # cookie alone: no XSRF token

    status, _, answer = await raw_request(
        jp_http_port,
        "POST",
        target,
        {
            "Cookie": jar,
            "X-XSRFToken": cookies["_xsrf"].value,
            "Content-Type": "application/json",
        },
        body,
    )
    assert status == 200, answer
    assert json.loads(answer)["namespace"] == "default"
    assert stack_behind.token.encode() not in answer


@pytest.fixture
def big_answer(dsp_config, recording_upstream, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("stack-token-0123456789abcdef")
    dsp_config.update(endpoint=recording_upstream.url, token_file=str(token_file))
    recording_upstream.content_type = "application/octet-stream"
    recording_upstream.body = bytes(range(256)) * (12 * 1024)  # 3 MB
    return recording_upstream


async def test_large_answers_stream_back_intact(big_answer, jp_fetch):
    r = await jp_fetch(*API, "runs", "r-1", "nodes", "n-1", "artifacts", "model:read")
    assert r.body == big_answer.body
    assert r.headers["Content-Type"] == "application/octet-stream"
