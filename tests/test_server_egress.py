"""Issue 20: no part of the token leaves the server. A hostile stack on loopback echoes the
server's JWT (whole, each part, percent- and base64-encoded, JSON-escaped, split across
chunks) in headers, bodies and JSON fields; through the real Jupyter server, ``dsp/results``,
``dsp/artifacts`` (whole and ranged reads cut through the token), ``dsp/diff``, the proxy,
``dsp/logs`` and ``dsp/info`` answer without any 16-character piece of any JWT part, and
the headers the server forwards are rebuilt (``Content-Disposition`` from the artifact's
name, quoted), never copied."""

from __future__ import annotations

import base64
import json
import os

import pytest
from hostile_upstream import (
    ARTIFACT,
    PIPELINE,
    RUN,
    TASK,
    HostileUpstream,
    leaked,
    markdown,
)
from tornado.httpclient import HTTPClientError, HTTPResponse

pytest_plugins = ("pytest_jupyter.jupyter_server", "fixtures_cluster", "fixtures_server")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


HEADER = _b64(json.dumps({"alg": "RS256", "kid": "egress-test-key-1"}).encode())
PAYLOAD = _b64(
    json.dumps(
        {
            "iss": "https://kubernetes.default.svc",
            "sub": "system:serviceaccount:team-a:notebook",
            "kubernetes.io": {"namespace": "team-a", "serviceaccount": {"name": "notebook"}},
            "exp": 4102444800,
        }
    ).encode()
)
SIGNATURE = _b64(os.urandom(256))
JWT = f"{HEADER}.{PAYLOAD}.{SIGNATURE}"


@pytest.fixture
def jp_server_config(dsp_server_config):
    return dsp_server_config


@pytest.fixture
def hostile(dsp_config, tmp_path):
    up = HostileUpstream().start()
    token_file = tmp_path / "jwt"
    token_file.write_text(JWT)
    dsp_config.update(
        endpoint=up.url, token_file=str(token_file), namespace="team-a", multi_user=True
    )
    yield up
    up.stop()


def answer_text(response: HTTPResponse) -> str:
    headers = "\n".join(f"{k}: {v}" for k, v in response.headers.get_all())
    return f"{response.code} {response.reason}\n{headers}\n\n" + response.body.decode(
        "utf-8", "replace"
    )


async def fetch_any(jp_fetch, *parts: str, **kwargs) -> HTTPResponse:
    try:
        return await jp_fetch(*parts, **kwargs)
    except HTTPClientError as exc:
        assert exc.response is not None
        return exc.response


def assert_no_token(response: HTTPResponse, where: str) -> None:
    text = answer_text(response)
    found = leaked(text, JWT)
    assert not found, (
        where,
        [line[:200] for line in text.splitlines() if any(p in line for p in found)][:3],
    )
    assert not leaked(response.body, JWT), where  # the body as JSON too (escapes read)


async def test_results_artifacts_and_diff_never_send_the_token(hostile, jp_fetch):
    results = await fetch_any(jp_fetch, "dsp", "results", RUN)
    assert results.code == 200, results.body
    assert_no_token(results, "dsp/results")
    doc = json.loads(results.body)
    answer = doc["tasks"][0]["outputs"]["parameters"]["answer"]
    assert "[redacted]" in answer and "token " in answer  # the rest of the value is kept

    whole = await fetch_any(jp_fetch, "dsp", "artifacts", RUN, ARTIFACT)
    assert whole.code == 200, whole.body
    assert_no_token(whole, "dsp/artifacts")
    assert len(whole.body) == len(markdown(JWT))  # masked in place: Content-Length holds
    assert whole.body.startswith(b"# Report")
    disposition = whole.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="r')
    assert disposition.count("filename*=") == 1 and "x=1" not in disposition
    for copied in ("X-Leak", "ETag", "Last-Modified", "X-Log-Size"):
        assert copied not in whole.headers, copied

    # ranged reads that begin, end or lie inside the token or one of its parts
    data = markdown(JWT)
    at = data.index(SIGNATURE.encode())
    for start, end in ((at + 40, at + 200), (at - 30, at + 60), (at + 5, at + 300)):
        piece = await fetch_any(
            jp_fetch, "dsp", "artifacts", RUN, ARTIFACT, headers={"Range": f"bytes={start}-{end}"}
        )
        assert piece.code == 206, piece.body
        assert len(piece.body) == end - start + 1
        assert_no_token(piece, f"dsp/artifacts range {start}-{end}")

    diff = await fetch_any(jp_fetch, "dsp", "diff", params={"pipeline_id": PIPELINE})
    assert diff.code == 200, diff.body
    assert_no_token(diff, "dsp/diff")
    assert json.loads(diff.body)["changed"] is True


async def test_proxy_logs_info_and_errors_never_send_the_token(hostile, jp_fetch):
    listed = await fetch_any(jp_fetch, "dsp", "api", "project", "apis", "v2beta1", "pipelines")
    assert listed.code == 200, listed.body
    assert_no_token(listed, "proxy: a streamed JSON list")
    assert "[redacted]" in json.loads(listed.body)["pipelines"][0]["note"]  # was \u-escaped
    assert "ETag" not in listed.headers and "X-Leak" not in listed.headers

    failed = await fetch_any(
        jp_fetch, "dsp", "api", "project", "apis", "v2beta1", "pipelines", "no-such-pipeline"
    )
    assert failed.code == 500
    assert_no_token(failed, "proxy: an error answer")

    log = await fetch_any(jp_fetch, "dsp", "logs", RUN, TASK)
    assert log.code == 200
    assert_no_token(log, "dsp/logs")
    assert "X-Log-Next-Offset" not in log.headers  # not a number: not passed on
    assert "X-Log-Complete" not in log.headers

    info = await fetch_any(jp_fetch, "dsp", "info")
    assert_no_token(info, "dsp/info")
