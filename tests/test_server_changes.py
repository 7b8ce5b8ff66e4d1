"""The live panel's change feed: the pure long-poll logic (server/changes.py) and
``GET {base}dsp/changes`` through a real Jupyter server and stack."""

from __future__ import annotations

import asyncio
import json
import time

import kfp
import pytest
from stack_http import VALID
from tornado.httpclient import AsyncHTTPClient, HTTPClientError

from jupyter_dsp.server.changes import ChangeFeed, parse_request
from jupyter_dsp.server.errors import ProxyError

pytest_plugins = ("pytest_jupyter.jupyter_server", "fixtures_cluster", "fixtures_server")


@pytest.mark.parametrize(
    ("watch", "since"),
    [
        ("", ""),
        ("pipelines:elsewhere", ""),
        ("runs,runs", ""),
        ("run:../x", ""),
        ("versions:project:a/b", ""),
        ("runs,recurringruns", "abc"),
        ("runs", "a b"),
        (",".join(f"run:r{i}" for i in range(65)), ""),
    ],
)
def test_bad_requests_are_400(watch, since):
    with pytest.raises(ProxyError) as err:
        parse_request(watch, since)
    assert err.value.status == 400 and err.value.message


def test_request_pairs_keys_and_tokens():
    keys, since = parse_request("pipelines:project,run:r-1", "aa,bb")
    assert keys == ["pipelines:project", "run:r-1"]
    assert since == {"pipelines:project": "aa", "run:r-1": "bb"}
    assert parse_request("runs", "")[1] == {}


class Upstream:
    """A stand-in for the stack's lists: a value per key, and every read counted."""

    def __init__(self) -> None:
        self.values = {"runs": "r1", "pipelines:project": "p1"}
        self.reads = 0

    async def __call__(self, key: str) -> str:
        self.reads += 1
        if key == "run:gone":
            raise ProxyError(404, "no such run")
        return self.values[key]


async def test_feed_answers_on_change_and_stops_polling_when_nobody_waits():
    up = Upstream()
    feed = ChangeFeed(up, interval=0.05)
    first = await feed.wait(["runs", "pipelines:project"], {}, timeout=2)
    assert first == {"runs": "r1", "pipelines:project": "p1"}

    waiting = asyncio.ensure_future(feed.wait(["runs", "pipelines:project"], first, timeout=5))
    await asyncio.sleep(0.2)
    assert not waiting.done()  # nothing changed: the long poll holds
    started = time.monotonic()
    up.values["pipelines:project"] = "p2"
    changed = await waiting
    assert changed == {"runs": "r1", "pipelines:project": "p2"}
    assert time.monotonic() - started < 1

    same = await feed.wait(["runs"], {"runs": "r1"}, timeout=0.2)  # timeout: tokens unchanged
    assert same == {"runs": "r1"}

    await asyncio.sleep(0.2)
    assert not feed.polling and feed.waiting == 0
    reads = up.reads
    await asyncio.sleep(0.3)
    assert up.reads == reads  # nobody watches: no upstream request at all


async def test_feed_errors_become_tokens_and_a_cancelled_wait_leaves():
    up = Upstream()
    feed = ChangeFeed(up, interval=0.05)
    got = await feed.wait(["run:gone", "runs"], {}, timeout=2)
    assert got == {"run:gone": "error-404", "runs": "r1"}
    task = asyncio.ensure_future(feed.wait(["runs"], {"runs": "r1"}, timeout=10))
    await asyncio.sleep(0.1)
    assert feed.waiting == 1
    task.cancel()  # the panel closed its request
    await asyncio.sleep(0.15)
    assert feed.waiting == 0 and not feed.polling


# ---- GET dsp/changes through the Jupyter server ---------------------------------------------


@pytest.fixture
def jp_server_config(dsp_server_config):
    return dsp_server_config


async def test_changes_endpoint(
    proxied_stack, jp_fetch, jp_serverapp, server_url, jupyter_token, unique_name
):
    stack = kfp.Client(host=proxied_stack.url, existing_token=proxied_stack.token)
    hello = str(VALID / "hello_world.yaml")
    params = {"watch": "pipelines:project,runs,recurringruns"}
    first = json.loads((await jp_fetch("dsp", "changes", params=params)).body)["tokens"]
    assert set(first) == {"pipelines:project", "runs", "recurringruns"}
    assert all(len(t) == 16 for t in first.values()), first

    since = ",".join(first[k] for k in params["watch"].split(","))
    started = time.monotonic()
    waiting = asyncio.ensure_future(
        jp_fetch("dsp", "changes", params={**params, "since": since}, request_timeout=40)
    )
    await asyncio.sleep(1.5)
    assert not waiting.done()
    pipeline = await asyncio.to_thread(
        lambda: stack.upload_pipeline(hello, pipeline_name=unique_name("live"), namespace="default")
    )
    changed = json.loads((await waiting).body)["tokens"]
    assert changed["pipelines:project"] != first["pipelines:project"]
    assert changed["runs"] == first["runs"]
    assert time.monotonic() - started < 6

    # a version uploaded to a pipeline changes its versions token
    key = f"versions:project:{pipeline.pipeline_id}"
    before = json.loads((await jp_fetch("dsp", "changes", params={"watch": key})).body)["tokens"]
    await asyncio.to_thread(
        lambda: stack.upload_pipeline_version(
            hello, pipeline_version_name="v2", pipeline_id=pipeline.pipeline_id
        )
    )
    after = json.loads(
        (await jp_fetch("dsp", "changes", params={"watch": key, "since": before[key]})).body
    )["tokens"]
    assert after[key] != before[key]

    # another namespace's pipeline: the proxy's owner check answers, as a token
    broad = proxied_stack.create_token("nb", {"default": "edit", "other": "edit"}, "edit")
    theirs = kfp.Client(host=proxied_stack.url, existing_token=broad)
    other = await asyncio.to_thread(
        lambda: theirs.upload_pipeline(hello, pipeline_name=unique_name("x"), namespace="other")
    )
    proxied_stack.token_file.write_text(broad)
    body = (
        await jp_fetch("dsp", "changes", params={"watch": f"versions:project:{other.pipeline_id}"})
    ).body.decode()
    assert json.loads(body)["tokens"] == {f"versions:project:{other.pipeline_id}": "error-403"}
    assert broad not in body and proxied_stack.token not in body

    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("dsp", "changes", params={"watch": "jobs"})
    assert err.value.code == 400 and json.loads(err.value.response.body)["message"]
    twice = await AsyncHTTPClient().fetch(
        f"{server_url}dsp/changes?watch=runs&watch=runs",
        headers={"Authorization": f"token {jupyter_token}"},
        raise_error=False,
    )
    assert twice.code == 400 and "once" in json.loads(twice.body)["message"]
    # the panel's background checks do not count as user activity (idle culling still works)
    settings = jp_serverapp.web_app.settings
    before = settings.get("api_last_activity")
    await jp_fetch("dsp", "changes", params={"watch": "runs", "no_track_activity": "1"})
    assert settings.get("api_last_activity") == before
    anonymous = await AsyncHTTPClient().fetch(
        f"{server_url}dsp/changes?watch=runs", raise_error=False
    )
    assert anonymous.code == 403


async def test_feed_close_ends_waiting_polls():
    feed = ChangeFeed(Upstream(), interval=0.05)
    first = await feed.wait(["runs"], {}, timeout=2)
    task = asyncio.ensure_future(feed.wait(["runs"], first, timeout=10))
    await asyncio.sleep(0.1)
    feed.close()  # the server stops
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.1)
    assert feed.waiting == 0 and not feed.polling


async def test_a_long_poll_given_up_stops_the_upstream_polling(
    proxied_stack, jp_fetch, jp_serverapp, jp_http_port, jp_base_url, jupyter_token
):
    """The panel hides: it aborts its request. The server notices at once, and polls the
    stack no more (no waiter, no loop) instead of holding on for the rest of the 25 s."""
    from jupyter_dsp.server.changes_handler import FEED_SETTING

    feed = jp_serverapp.web_app.settings[FEED_SETTING]
    first = json.loads((await jp_fetch("dsp", "changes", params={"watch": "runs"})).body)
    reader, writer = await asyncio.open_connection("127.0.0.1", jp_http_port)
    writer.write(
        (
            f"GET {jp_base_url}dsp/changes?watch=runs&since={first['tokens']['runs']} HTTP/1.1\r\n"
            f"Host: 127.0.0.1\r\nAuthorization: token {jupyter_token}\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    for _ in range(50):
        if feed.waiting:
            break
        await asyncio.sleep(0.1)
    assert feed.waiting == 1 and feed.polling
    writer.close()  # the browser aborts the fetch
    await asyncio.sleep(1.5)
    assert feed.waiting == 0 and not feed.polling
    reads = feed.upstream_requests
    await asyncio.sleep(1.5)
    assert feed.upstream_requests == reads


async def test_a_token_nobody_polled_lately_is_not_trusted():
    """Panel A watches runs and pipelines, hides (a run view B keeps the feed going, for runs
    only); a pipeline is uploaded; A shows again: the change comes at once, not the token
    cached before A left (which would hold it until the next round)."""
    up = Upstream()
    feed = ChangeFeed(up, interval=2.0)
    known = {"runs": "r1", "pipelines:project": "p1"}
    view = asyncio.ensure_future(feed.wait(["runs"], {"runs": "r1"}, timeout=30))
    panel = asyncio.ensure_future(feed.wait(list(known), known, timeout=30))
    await asyncio.sleep(0.3)
    assert feed.ticks == 1
    panel.cancel()  # hidden
    await asyncio.sleep(4.2)  # two rounds for the run view alone
    assert feed.ticks == 3
    up.values["pipelines:project"] = "p2"
    back = await feed.wait(list(known), known, timeout=0.5)
    assert back["pipelines:project"] == "p2"
    view.cancel()
    feed.close()
