"""Issue 20's bounds, through the real Jupyter server: an upstream that trickles its answer (a
byte every half second, forever) is cut at the whole-request deadline on the proxy,
``dsp/results`` and ``dsp/logs``; the ``dsp/changes`` long poll, fed by an upstream echoing the
server's JWT, answers only hashes; nested-alias YAML uploads (many aliases, or few aliases of
long strings) are refused with 413 through the proxy while the stack process grows by under
50 MB (its resident size and its peak, read from ``/proc``)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path

import psutil
import pytest
from hostile_upstream import RUN, HostileUpstream, leaked
from test_server_egress import JWT, answer_text, fetch_any, hostile  # noqa: F401 - a fixture

pytest_plugins = ("pytest_jupyter.jupyter_server", "fixtures_cluster", "fixtures_server")

TOTAL_S = 3.0  # the whole-request deadline under test
IDLE_S = 30.0  # far longer: only the whole-request deadline can end a trickle
MB = 1024 * 1024


@pytest.fixture
def jp_server_config(dsp_server_config):
    return dsp_server_config


@pytest.fixture
def trickling(dsp_config, tmp_path):
    up = HostileUpstream(trickle_s=0.5).start()
    token_file = tmp_path / "jwt"
    token_file.write_text(JWT)
    dsp_config.update(
        endpoint=up.url,
        token_file=str(token_file),
        namespace="team-a",
        multi_user=True,
        idle_timeout=IDLE_S,
        total_timeout=TOTAL_S,
    )
    yield up
    up.stop()


async def timed_get(port: int, target: str, token: str, limit: float = 20) -> tuple[float, bytes]:
    """GET ``target``; (seconds until the server closed or finished, raw answer bytes), given
    up after ``limit`` seconds."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
        f"Authorization: token {token}\r\n\r\n".encode()
    )
    await writer.drain()
    data = b""
    try:
        while chunk := await asyncio.wait_for(
            reader.read(65536), max(0.01, started + limit - time.monotonic())
        ):
            data += chunk
    except (ConnectionError, asyncio.IncompleteReadError, asyncio.TimeoutError):
        pass
    finally:
        writer.close()
    return time.monotonic() - started, data


@pytest.mark.parametrize(
    "path",
    [
        "dsp/api/project/apis/v2beta1/pipelines?page_token=slow&namespace=team-a",
        "dsp/api/project/apis/v2beta1/runs/run-slow",
        "dsp/results/run-slow",
        f"dsp/logs/{RUN}/slow",
    ],
)
async def test_a_trickling_answer_ends_at_the_whole_request_deadline(
    trickling, jp_fetch, jp_http_port, jp_base_url, jupyter_token, path
):
    await jp_fetch("dsp", "info")  # the connection is made: only the request is timed
    took, answer = await timed_get(jp_http_port, f"{jp_base_url}{path}", jupyter_token)
    # the upstream would go on for 500 s; the request ends at the deadline, not at idle
    assert TOTAL_S - 0.5 < took < TOTAL_S + 5, (took, answer[:300])
    head, _, body = answer.partition(b"\r\n\r\n")
    if head.startswith(b"HTTP/1.1 504"):  # nothing sent yet: a 504 that says why
        error = json.loads(body)
        assert "whole request" in error.get("message", error.get("error_message", "")), body
    else:  # the answer had started (its status sent): cut short, never completed
        assert head.startswith(b"HTTP/1.1 200"), head
        assert not body.rstrip().endswith(b"}") and not body.endswith(b"0\r\n\r\n"), body[-80:]
    assert not leaked(answer, JWT)


async def test_a_trickled_json_body_ends_at_the_whole_request_deadline(
    trickling, jp_fetch, jp_http_port, jp_base_url, jupyter_token
):
    """A body the proxy reads whole (JSON, not streamed) sent 100 bytes every 0.5 s."""
    await jp_fetch("dsp", "info")
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", jp_http_port)
    writer.write(
        (
            f"POST {jp_base_url}dsp/api/project/apis/v2beta1/runs HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{jp_http_port}\r\nAuthorization: token {jupyter_token}\r\n"
            "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
        ).encode()
        + b'{"display_name": "'
    )
    answer = b""
    try:
        while time.monotonic() - started < 20 and not answer:
            writer.write(b"a" * 100)
            await writer.drain()
            try:
                answer = await asyncio.wait_for(reader.read(65536), 0.5)
            except asyncio.TimeoutError:
                continue
    except ConnectionError:
        pass
    finally:
        writer.close()
    took = time.monotonic() - started
    assert TOTAL_S - 0.5 < took < TOTAL_S + 5, (took, answer[:200])
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 504"), answer[:200]
    assert b"whole request" in body


async def test_a_trickling_list_does_not_hold_the_live_feed(trickling, jp_fetch):
    """One list whose read trickles becomes an error token at the deadline; the others are
    answered with it (the panel's feed does not freeze on one slow list)."""
    started = time.monotonic()
    got = await fetch_any(
        jp_fetch,
        "dsp",
        "changes",
        params={"watch": "run:run-slow,pipelines:project"},
        request_timeout=60,
    )
    took = time.monotonic() - started
    assert got.code == 200, got.body
    tokens = json.loads(got.body)["tokens"]
    assert tokens["run:run-slow"] == "error-504", tokens
    assert len(tokens["pipelines:project"]) == 16, tokens
    assert took < TOTAL_S + 5, took


async def test_the_changes_long_poll_sends_no_part_of_the_token(
    hostile,  # noqa: F811 - the fixture imported above
    jp_fetch,
):
    keys = "pipelines:project,pipelines:shared,runs,run:run-1,versions:project:pipe-1"
    first = await fetch_any(jp_fetch, "dsp", "changes", params={"watch": keys})
    assert first.code == 200, first.body
    tokens = json.loads(first.body)["tokens"]
    assert set(tokens) == set(keys.split(","))
    assert not leaked(answer_text(first), JWT)
    # what it answers is a short hash per list, or the upstream's status: nothing of its text
    assert all(len(t) <= 16 for t in tokens.values()), tokens
    # a poll with a stale token answers at once, as hashes again
    again = await fetch_any(jp_fetch, "dsp", "changes", params={"watch": "runs", "since": "stale"})
    assert again.code == 200 and not leaked(answer_text(again), JWT)
    assert json.loads(again.body)["tokens"]["runs"] == tokens["runs"]


# ---- nested aliases ------------------------------------------------------------------------


def laughs() -> bytes:
    """The classic: 9 strings, each level 9 aliases of the level below, 15 levels (9**15)."""
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for prev, name in zip("abcdefghijklmn", "bcdefghijklmno", strict=True):
        lines.append(f"{name}: &{name} [" + ", ".join(f"*{prev}" for _ in range(9)) + "]")
    return ("\n".join(lines) + "\n").encode()


def long_strings() -> bytes:
    """Few aliases, long strings: 4 KB, then 4 levels of 12 aliases (85 MB expanded, 20736
    leaves: under any alias count a reader would pick)."""
    lines = [f"a: &a {'x' * 4096}"]
    for prev, name in zip("abcd", "bcde", strict=True):
        lines.append(f"{name}: &{name} [" + ", ".join(f"*{prev}" for _ in range(12)) + "]")
    return ("\n".join(lines) + "\n").encode()


def inside_a_pipeline() -> bytes:
    """A pipeline spec's YAML with a nested-alias bomb under an extra key."""
    bomb = laughs().decode().replace("\n", "\n  ")
    return (
        "pipelineInfo:\n  name: bomb\nschemaVersion: 2.1.0\nsdkVersion: kfp-2.14.3\n"
        "root:\n  dag:\n    tasks: {}\n"
        f"x-bomb:\n  {bomb}\n"
    ).encode()


def memory(pid: int) -> tuple[int, int]:
    """(resident, peak resident) bytes of a process, from /proc."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return psutil.Process(pid).memory_info().rss, int(fields["VmHWM"].split()[0]) * 1024


def multipart(name: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="uploadfile"; '
            f'filename="{name}"\r\nContent-Type: application/yaml\r\n\r\n'
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


async def test_nested_alias_uploads_are_413_and_the_stack_stays_small(
    proxied_stack, jp_fetch, unique_name
):
    pid = proxied_stack.pid
    assert pid and psutil.Process(pid).is_running()
    await jp_fetch("dsp", "info")
    try:  # the peak from now on (root may reset it; else the startup peak stays the floor)
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        pass
    rss_before, _ = memory(pid)
    for label, data in (
        ("laughs", laughs()),
        ("long-strings", long_strings()),
        ("in-a-pipeline", inside_a_pipeline()),
    ):
        body, ctype = multipart(f"{label}.yaml", data)
        assert len(body) < 70_000, len(body)  # small uploads
        started = time.monotonic()
        answer = await fetch_any(
            jp_fetch,
            "dsp", "api", "project", "apis", "v2beta1", "pipelines", "upload",
            method="POST",
            body=body,
            headers={"Content-Type": ctype},
            params={"name": unique_name(label), "namespace": "default"},
        )  # fmt: skip
        took = time.monotonic() - started
        assert answer.code == 413, (label, answer.code, answer.body[:300])
        error = json.loads(answer.body)
        assert "alias" in error["error_message"] or "expand" in error["error_message"], error
        assert took < 5, (label, took)
        rss, peak = memory(pid)
        grew, peaked = (rss - rss_before) / MB, (peak - rss_before) / MB
        print(f"{label}: 413 in {took * 1000:.0f} ms, +{grew:.1f} MB, peak +{peaked:.1f} MB")
        assert grew < 50 and peaked < 50, (label, grew, peaked)
    # the stack still serves, and holds none of them
    listed = await jp_fetch(
        "dsp", "api", "project", "apis", "v2beta1", "pipelines", params={"namespace": "default"}
    )
    assert not [
        p for p in json.loads(listed.body).get("pipelines", []) if "laughs" in p["display_name"]
    ]
