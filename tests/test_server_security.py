"""The proxy is not a door to anything else: authentication, allowlist, traversal, header
hygiene, no token in any answer, upstream failures as KFP JSON."""

from __future__ import annotations

import json

import pytest
from server_helpers import raw_request
from tornado.httpclient import HTTPClientError

pytest_plugins = ("pytest_jupyter.jupyter_server", "fixtures_cluster", "fixtures_server")


@pytest.fixture
def jp_server_config(dsp_server_config):
    return dsp_server_config


API = ("dsp", "api", "project", "apis", "v2beta1")
UPSTREAM_TOKEN = "sa-token-that-must-stay-secret"


@pytest.fixture
def recorded(dsp_config, recording_upstream, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(UPSTREAM_TOKEN)
    dsp_config.update(
        endpoint=recording_upstream.url,
        token_file=str(token_file),
        namespace="team-a",
        request_timeout=1.0,
    )
    return recording_upstream


@pytest.fixture
def stack_behind(dsp_config, stack, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(stack.token)
    dsp_config.update(endpoint=stack.url, token_file=str(token_file), namespace="default")
    return stack


async def test_unauthenticated_is_403(stack_behind, jp_fetch, jp_http_port, jp_base_url):
    bad = {"Authorization": "token wrong"}
    for parts in (("dsp", "info"), (*API, "pipelines"), ("dsp", "logs", "run", "task")):
        with pytest.raises(HTTPClientError) as err:
            await jp_fetch(*parts, headers=bad)
        assert err.value.code == 403
    # a write with a body is refused before the body is forwarded
    status, _, body = await raw_request(
        jp_http_port,
        "POST",
        f"{jp_base_url}dsp/api/project/apis/v2beta1/pipelines/upload?name=x",
        {"Content-Type": "multipart/form-data; boundary=b"},
        b"--b--\r\n",
    )
    assert status == 403
    assert stack_behind.token.encode() not in body


TRAVERSALS = [
    "dsp/api/project/apis/v2beta1/../../../api/contents",
    "dsp/api/project/apis/v2beta1/pipelines/%2e%2e/%2e%2e/%2e%2e/api/contents",
    "dsp/api/project/apis/v2beta1/pipelines%2F..%2F..%2Fhealthz",
    "dsp/api/project/apis/v2beta1/pipelines/%252e%252e/healthz",
    "dsp/api/project/apis/v2beta1/healthz/..",
    "dsp/api/project/apis/v2beta1//pipelines",
    "dsp/api/project//127.0.0.1:1/apis/v2beta1/healthz",
    "dsp/api/project/http://127.0.0.1:1/apis/v2beta1/healthz",
    "dsp/api/project/apis/v1beta1/pipelines",
    "dsp/api/project/apis/v2beta1/auth",
    "dsp/api/project/apis/v2beta1/jobs",
    "dsp/api/project/apis/v2beta1/visualizations/default",
    "dsp/api/project/apis/v2beta1/pipelines/abc/versions/def/extra",
    "dsp/api/project/apis/v2beta1/runs/abc:explode",
    "dsp/api/project/metrics",
    "dsp/api/project/",
    "dsp/api/elsewhere/apis/v2beta1/healthz",
]


async def test_traversal_and_off_allowlist_are_404(
    stack_behind, jp_fetch, jp_http_port, jp_base_url, jupyter_token
):
    auth = {"Authorization": f"token {jupyter_token}"}
    for path in TRAVERSALS:
        status, headers, body = await raw_request(jp_http_port, "GET", jp_base_url + path, auth)
        assert status == 404, path
        assert headers["content-type"].startswith("application/json"), path
        assert json.loads(body)["code"] == 5, path
        assert stack_behind.token.encode() not in body


async def test_shared_space_has_no_runs(stack_behind, jp_fetch):
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("dsp", "api", "shared", "apis", "v2beta1", "runs")
    assert err.value.code == 404
    assert "project space" in json.loads(err.value.response.body)["message"]


async def test_caller_headers_are_dropped_and_token_added(recorded, jp_fetch, jupyter_token):
    r = await jp_fetch(
        *API,
        "pipelines",
        params={"page_size": "5"},
        headers={
            "Cookie": "_xsrf=abc; session=secret",
            "X-XSRFToken": "abc",
            "kubeflow-userid": "admin@example.com",
            "Proxy-Authorization": "Basic Zm9vOmJhcg==",
            "X-Forwarded-For": "10.0.0.1",
            "Accept": "application/json",
        },
    )
    assert r.code == 200
    seen = recorded.seen[-1]
    sent = {k.lower(): v for k, v in seen["headers"].items()}
    assert sent["authorization"] == f"Bearer {UPSTREAM_TOKEN}"
    for dropped in (
        "cookie",
        "x-xsrftoken",
        "kubeflow-userid",
        "proxy-authorization",
        "x-forwarded-for",
    ):
        assert dropped not in sent, dropped
    assert jupyter_token not in json.dumps(seen)
    assert sent["accept"] == "application/json"
    # the namespace is pinned on list calls
    assert seen["uri"] == "/apis/v2beta1/pipelines?page_size=5&namespace=team-a"


async def test_no_token_or_cookie_or_html_comes_back(recorded, jp_fetch):
    recorded.status = 500
    recorded.body = json.dumps(
        {"code": 13, "message": f"failed with token {UPSTREAM_TOKEN}", "details": []}
    ).encode()
    recorded.reply_headers = {"Set-Cookie": "stack=1", "WWW-Authenticate": "Bearer realm=x"}
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch(*API, "pipelines")
    r = err.value.response
    assert err.value.code == 500
    assert UPSTREAM_TOKEN not in r.body.decode()
    # (Jupyter may set its own _xsrf cookie; the stack's cookie never passes)
    assert all("stack=1" not in v for v in r.headers.get_list("Set-Cookie"))
    assert "WWW-Authenticate" not in r.headers

    recorded.status = 200
    recorded.reply_headers = {}
    recorded.content_type = "text/html"
    recorded.body = b"<script>alert(1)</script>"
    r = await jp_fetch(*API, "pipelines")
    assert r.headers["Content-Type"].startswith("text/plain")
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'none'" in r.headers["Content-Security-Policy"]


async def test_403_from_the_stack_names_identity_and_grant(recorded, jp_fetch):
    recorded.status = 403
    recorded.body = json.dumps({"code": 7, "message": "denied", "details": []}).encode()
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch(*API, "runs", method="POST", body=json.dumps({"display_name": "r"}))
    message = json.loads(err.value.response.body)["message"]
    assert err.value.code == 403
    assert "denied" in message and "Missing grant" in message
    assert "create" in message and "team-a" in message
    assert UPSTREAM_TOKEN not in message


async def test_slow_upstream_is_504_json(recorded, jp_fetch):
    recorded.stall = 5.0
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch(*API, "pipelines")
    assert err.value.code == 504
    body = json.loads(err.value.response.body)
    assert body["code"] == 4 and "did not answer" in body["message"]


async def test_bad_json_body_is_400(recorded, jp_fetch):
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch(*API, "experiments", method="POST", body="{not json")
    assert err.value.code == 400
    assert json.loads(err.value.response.body)["code"] == 3


async def test_body_on_get_is_not_smuggled(
    recorded, jp_fetch, jp_http_port, jp_base_url, jupyter_token
):
    """A body on a GET is dropped, never announced upstream on the pooled connection."""
    smuggled = b"GET /apis/v2beta1/runs HTTP/1.1\r\nHost: x\r\n\r\n"
    status, _, _ = await raw_request(
        jp_http_port,
        "GET",
        f"{jp_base_url}dsp/api/project/apis/v2beta1/pipelines",
        {"Authorization": f"token {jupyter_token}"},
        smuggled,
    )
    assert status == 200
    r = await jp_fetch(*API, "experiments")
    assert r.code == 200
    uris = [s["uri"] for s in recorded.seen if s["uri"] != "/apis/v2beta1/healthz"]
    assert uris == [
        "/apis/v2beta1/pipelines?namespace=team-a",
        "/apis/v2beta1/experiments?namespace=team-a",
    ]
    assert all(s["body"] == "" for s in recorded.seen)


async def test_token_never_logged(recorded, jp_fetch, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    await jp_fetch(*API, "pipelines")
    await jp_fetch("dsp", "info")
    for status in (401, 500):
        recorded.status = status
        recorded.body = json.dumps({"code": 13, "message": UPSTREAM_TOKEN, "details": []}).encode()
        with pytest.raises(HTTPClientError):
            await jp_fetch(*API, "runs", method="POST", body="{}")
    recorded.stall = 5.0
    with pytest.raises(HTTPClientError):
        await jp_fetch(*API, "pipelines")
    assert "dsp/api/project/apis/v2beta1/runs" in caplog.text  # the server's log was captured
    assert UPSTREAM_TOKEN not in caplog.text
