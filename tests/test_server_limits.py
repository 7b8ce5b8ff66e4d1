"""Issue 10: bad bodies and slow peers. A JSON body nested too deep is a 400 in KFP's shape (not
a 500 with a RecursionError); the upstream exchange has a connect, an idle and a whole-request
timeout, each answered as KFP error JSON (504)."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import pytest
import pytest_asyncio
from tornado.httpclient import HTTPClientError

pytest_plugins = ("pytest_jupyter.jupyter_server", "fixtures_cluster", "fixtures_server")

API = ("dsp", "api", "project", "apis", "v2beta1")
DEEP = "[" * 100_000 + "]" * 100_000


@pytest.fixture
def jp_server_config(dsp_server_config):
    return dsp_server_config


@pytest.fixture
def recorded(recording_upstream, dsp_config, tmp_path):
    token_file = tmp_path / "tok"
    token_file.write_text("stack-token")
    dsp_config.update(
        endpoint=recording_upstream.url,
        token_file=str(token_file),
        namespace="team-a",
        idle_timeout=1.0,
        total_timeout=3.0,
    )
    return recording_upstream


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", ("experiments",)),
        ("POST", ("runs",)),
        ("POST", ("pipelines",)),
        ("POST", ("runs", "r-1:archive")),
    ],
)
async def test_deeply_nested_json_is_400(recorded, jp_fetch, method, path):
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch(*API, *path, method=method, body=DEEP)
    assert err.value.code == 400
    body = json.loads(err.value.response.body)
    assert body["code"] == 3 and "nested" in body["message"]
    assert not [s for s in recorded.seen if s["method"] == method]  # never forwarded


async def test_ordinary_nesting_still_passes(recorded, jp_fetch):
    body = {"display_name": "e", "description": "[" * 5000, "x": [[[[{"a": [1]}]]]]}
    response = await jp_fetch(*API, "experiments", method="POST", body=json.dumps(body))
    assert response.code == 200


async def _slow_upload(port: int, base: str, token: str, gap: float, pieces: int) -> bytes:
    """An upload that announces 1 MB and sends 100 bytes every ``gap`` seconds."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        (
            f"POST {base}dsp/api/project/apis/v2beta1/pipelines/upload?name=slow HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\nAuthorization: token {token}\r\n"
            "Content-Type: multipart/form-data; boundary=xx\r\n"
            "Content-Length: 1000000\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    try:
        for _ in range(pieces):
            writer.write(b"a" * 100)
            await writer.drain()
            try:
                return await asyncio.wait_for(reader.read(65536), gap)
            except asyncio.TimeoutError:
                continue
        return await asyncio.wait_for(reader.read(65536), 10)
    finally:
        writer.close()


async def test_stalled_upload_is_504_after_the_idle_timeout(
    recorded, jp_fetch, jp_http_port, jp_base_url, jupyter_token
):
    await jp_fetch("dsp", "info")
    started = time.monotonic()
    answer = await asyncio.wait_for(
        _slow_upload(jp_http_port, jp_base_url, jupyter_token, gap=0.1, pieces=1), 20
    )
    assert time.monotonic() - started < 8
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 504"), answer[:200]
    assert "idle" in json.loads(body)["error_message"]


async def test_trickling_upload_is_504_after_the_whole_request_timeout(
    recorded, jp_fetch, jp_http_port, jp_base_url, jupyter_token
):
    await jp_fetch("dsp", "info")
    started = time.monotonic()
    answer = await asyncio.wait_for(
        _slow_upload(jp_http_port, jp_base_url, jupyter_token, gap=0.5, pieces=40), 30
    )
    assert time.monotonic() - started < 10
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 504"), answer[:200]
    assert "whole request" in json.loads(body)["error_message"]


@pytest.fixture
def unaccepting(dsp_config, tmp_path):
    """A listener whose backlog is full: connecting to it hangs (SYNs are dropped)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(8):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        fillers.append(s)
    token_file = tmp_path / "tok"
    token_file.write_text("stack-token")
    dsp_config.update(
        endpoint=f"http://127.0.0.1:{port}",
        token_file=str(token_file),
        multi_user=True,
        connect_timeout=1.0,
    )
    yield port
    for s in fillers:
        s.close()
    server.close()


async def test_connect_timeout_is_504_json(unaccepting, jp_fetch):
    started = time.monotonic()
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch(*API, "pipelines")
    assert time.monotonic() - started < 6
    assert err.value.code == 504
    body = json.loads(err.value.response.body)
    assert body["code"] == 4 and "timed out" in body["message"]


@pytest_asyncio.fixture  # pytest >= 9.1 refuses an async fixture under @pytest.fixture
async def stalling(dsp_config, tmp_path):
    """An upstream that starts a 100 kB answer, sends 1 kB of it, then goes silent."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n"
            + b"x" * 1000
        )
        await writer.drain()
        await asyncio.sleep(15)
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    token_file = tmp_path / "tok"
    token_file.write_text("stack-token")
    dsp_config.update(
        endpoint=f"http://127.0.0.1:{port}",
        token_file=str(token_file),
        multi_user=True,
        idle_timeout=1.0,
    )
    yield port
    server.close()


async def test_stalled_answer_is_cut_after_the_idle_timeout(
    stalling, jp_fetch, jp_http_port, jp_base_url, jupyter_token
):
    """Once an answer has started its status cannot change: the proxy cuts the connection
    (the caller sees a short body, not a hang)."""
    from server_helpers import raw_request

    started = time.monotonic()
    try:
        _, _, body = await asyncio.wait_for(
            raw_request(
                jp_http_port,
                "GET",
                f"{jp_base_url}dsp/api/project/apis/v2beta1/pipelines",
                {"Authorization": f"token {jupyter_token}"},
            ),
            15,
        )
        assert len(body) < 100000  # cut short
    except (asyncio.IncompleteReadError, ConnectionError, ValueError, IndexError):
        pass  # cut mid-way
    assert time.monotonic() - started < 10
