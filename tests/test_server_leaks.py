"""Issue 10: query parameter pollution, Jupyter credentials and the stack's bearer token never
leak through the proxy, dsp/info, dsp/logs or the kernel's errors. Real Jupyter server; a real
stack behind a front that reads query values the Go way, and an upstream that echoes tokens."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
import requests
from server_helpers import HELLO
from stack_http import call, upload
from tornado.httpclient import HTTPClientError
from upstream_fronts import EchoUpstream, GoQueryFront

from jupyter_dsp.client import DSPClient, DSPError

pytest_plugins = ("pytest_jupyter.jupyter_server", "fixtures_cluster", "fixtures_server")

API = ("dsp", "api", "project", "apis", "v2beta1")


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


HEADER = b64({"alg": "RS256", "kid": "k1"})
PAYLOAD = b64({"sub": "system:serviceaccount:team-a:notebook", "exp": 1})
SIGNATURE = "c2lnbmF0dXJlLW9mLXRoZS1zZXJ2aWNlLWFjY291bnQtdG9rZW4"
JWT = f"{HEADER}.{PAYLOAD}.{SIGNATURE}"
SECRETS = (JWT, HEADER, PAYLOAD, SIGNATURE)


@pytest.fixture
def jp_server_config(dsp_server_config):
    return dsp_server_config


@pytest.fixture
def go_front(proxied_stack, dsp_config):
    front = GoQueryFront(proxied_stack.url).start()
    dsp_config.update(endpoint=front.url, namespace="team-a", shared_policy="read-only")
    broad = proxied_stack.create_token("nb", {"team-a": "edit", "other": "edit"}, "edit")
    proxied_stack.token_file.write_text(broad)
    proxied_stack.broad = broad
    yield front
    front.stop()


async def test_repeated_query_parameters_are_400_and_never_reach_the_stack(
    go_front, proxied_stack, jp_fetch, server_url, jupyter_token
):
    token = proxied_stack.broad
    shared = upload(proxied_stack, "shared-target", token).json()["pipeline_id"]
    mine = upload(proxied_stack, "mine", token, namespace="team-a").json()["pipeline_id"]

    def polluted_upload() -> requests.Response:
        return requests.post(
            f"{server_url}dsp/api/project/apis/v2beta1/pipelines/upload_version",
            params=[("pipelineid", shared), ("pipelineid", mine), ("name", "sneaky")],
            files={"uploadfile": ("hello.yaml", HELLO.read_bytes())},
            headers={"Authorization": f"token {jupyter_token}"},
            timeout=60,
        )

    response = await asyncio.to_thread(polluted_upload)
    assert response.status_code == 400, response.text
    assert "pipelineid" in response.json()["error_message"]
    versions = call(proxied_stack, "GET", f"/pipelines/{shared}/versions", token).json()
    assert len(versions["pipeline_versions"]) == 1  # the shared pipeline was not written
    for params in ([("namespace", "team-a"), ("namespace", "other")], [("page_size", "1")] * 2):
        got = await asyncio.to_thread(
            requests.get,
            f"{server_url}dsp/api/project/apis/v2beta1/pipelines",
            params=params,
            headers={"Authorization": f"token {jupyter_token}"},
            timeout=60,
        )
        assert got.status_code == 400, got.text
        body = got.json()
        assert set(body) == {"code", "message", "details"} and "repeated" in body["message"]
    # the front saw no polluted request at all
    assert not [uri for uri in go_front.seen if "sneaky" in uri or "page_size=1&page" in uri]


@pytest.fixture
def recorded(recording_upstream, dsp_config, tmp_path):
    token_file = tmp_path / "tok"
    token_file.write_text("stack-token")
    dsp_config.update(endpoint=recording_upstream.url, token_file=str(token_file))
    return recording_upstream


async def test_jupyter_credentials_are_not_forwarded(recorded, jp_fetch, jupyter_token):
    recording_upstream = recorded
    await jp_fetch(
        *API, "pipelines", params={"token": jupyter_token, "_xsrf": "xsrf-value", "page_size": 5}
    )
    sent = [s["uri"] for s in recording_upstream.seen if "pipelines" in s["uri"]]
    assert sent and all("token=" not in uri and "_xsrf" not in uri for uri in sent), sent
    assert all("page_size=5" in uri for uri in sent)


def echo_answer(path: str, bearer: str) -> tuple[int, dict[str, str], bytes]:
    sig = bearer.rsplit(".", 1)[-1]
    if path == "apis/v2beta1/healthz":
        return (
            401,
            {"Content-Type": "application/json"},
            json.dumps({"message": f"token {bearer} is expired (signature {sig})"}).encode(),
        )
    if path == "apis/v2beta1/pipelines":
        headers = {
            "Content-Type": "text/plain",
            "ETag": f'"{bearer}"',
            "Content-Disposition": f'attachment; filename="{bearer.split(".")[1]}.yaml"',
        }
        # the token straddles the proxy's 64 KiB read chunks
        return 200, headers, b"x" * (64 * 1024 - 20) + bearer.encode() + b"y" * 70000
    if path.endswith("/logs"):
        headers = {"Content-Type": "text/plain", "X-Log-Next-Offset": sig, "X-Log-Complete": "1"}
        return 200, headers, f"step log: Authorization: Bearer {bearer}\n{sig}\n".encode()
    return (
        500,
        {"Content-Type": "application/json"},
        json.dumps(
            {"message": f"gateway: token {bearer} rejected; parts {bearer.split('.')}"}
        ).encode(),
    )


@pytest.fixture
def echo(dsp_config, tmp_path):
    up = EchoUpstream(echo_answer).start()
    token_file = tmp_path / "jwt"
    token_file.write_text(JWT)
    dsp_config.update(
        endpoint=up.url, token_file=str(token_file), namespace="team-a", multi_user=True
    )
    yield up
    up.stop()


def assert_clean(text: str | bytes, where: str) -> None:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    for secret in SECRETS:
        assert secret not in text, (where, secret[:12])


async def test_echoed_token_is_scrubbed_from_headers_bodies_info_and_logs(echo, jp_fetch):
    listed = await jp_fetch(*API, "pipelines")
    # replaced by a mask of its own length (so a Content-Length or a range stays true)
    assert len(listed.body) == 64 * 1024 - 20 + len(JWT) + 70000
    assert b"[redacted]" in listed.body
    assert_clean(listed.body, "body across chunks")
    for name in ("ETag", "Content-Disposition"):
        assert_clean(listed.headers.get(name, ""), name)
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch(*API, "runs", "r2")
    assert_clean(err.value.response.body, "error body")
    info = await jp_fetch("dsp", "info")
    assert_clean(info.body, "dsp/info")
    assert json.loads(info.body)["healthy"] is False
    log = await jp_fetch("dsp", "logs", "r1", "t1")
    assert_clean(log.body, "dsp/logs body")
    assert_clean(json.dumps(dict(log.headers.get_all())), "dsp/logs headers")


def test_kernel_errors_and_logs_never_show_the_token(echo):
    client = DSPClient.from_endpoint(echo.url, JWT, namespace="team-a")
    info = client.info()
    assert info.healthy is False
    assert_clean(info.error or "", "client.info().error")
    assert_clean(repr(info), "repr(info)")
    with pytest.raises(DSPError) as err:
        client.get_run("r2")
    assert_clean(str(err.value), "DSPError")
    assert_clean("".join(err.value._render_traceback_()), "rendered DSPError")
    chunk = client.log_chunk("r1", "t1")
    assert_clean(chunk.text, "log chunk")
