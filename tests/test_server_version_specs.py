"""Version lists through the proxy carry no full specs unless asked (?include_specs=true);
a version read by id keeps its spec. Real Jupyter server, real stack on loopback."""

from __future__ import annotations

import asyncio
import json
import tracemalloc

import pytest
import requests  # type: ignore[import-untyped]
from version_specs_helpers import (
    EXPECTED_INPUTS,
    add_version,
    create_pipeline,
    padded,
    typed_spec,
)

pytest_plugins = ("pytest_jupyter.jupyter_server", "fixtures_cluster", "fixtures_server")

API = ("dsp", "api", "project", "apis", "v2beta1")


@pytest.fixture
def jp_server_config(dsp_server_config):
    return dsp_server_config


def root_inputs(spec: dict) -> dict[str, tuple[str, object]]:
    """What the panel's run form reads (labextension/src/spec.ts rootInputs)."""
    spec = spec.get("pipeline_spec", spec) if "root" not in spec else spec
    params = spec["root"]["inputDefinitions"]["parameters"]
    return {name: (p["parameterType"], p.get("defaultValue")) for name, p in params.items()}


async def test_version_list_has_no_specs_unless_asked(
    proxied_stack, jp_fetch, server_url, jupyter_token, unique_name
):
    spec = typed_spec()
    pid, first = await asyncio.to_thread(
        create_pipeline, proxied_stack.url, proxied_stack.token, unique_name("typed"), spec
    )
    await asyncio.to_thread(
        add_version, proxied_stack.url, proxied_stack.token, pid, unique_name("v2"), spec
    )
    r = await jp_fetch(*API, "pipelines", pid, "versions", params={"sort_by": "created_at desc"})
    listed = json.loads(r.body)
    assert listed["total_size"] == 2 and len(listed["pipeline_versions"]) == 2
    for v in listed["pipeline_versions"]:
        assert "pipeline_spec" not in v and "platform_spec" not in v
        assert v["pipeline_id"] == pid and v["display_name"] and v["created_at"]
    assert listed["pipeline_versions"][1]["pipeline_version_id"] == first

    r = await jp_fetch(*API, "pipelines", pid, "versions", params={"include_specs": "true"})
    full = json.loads(r.body)["pipeline_versions"]
    assert len(full) == 2 and all(root_inputs(v["pipeline_spec"]) for v in full)
    assert root_inputs(full[0]["pipeline_spec"]) == EXPECTED_INPUTS
    r = await jp_fetch(*API, "pipelines", pid, "versions", params={"include_specs": "false"})
    assert all("pipeline_spec" not in v for v in json.loads(r.body)["pipeline_versions"])

    # the run dialog's path: the list, then the version by id, then its inputs
    newest = listed["pipeline_versions"][0]["pipeline_version_id"]
    r = await jp_fetch(*API, "pipelines", pid, "versions", newest)
    one = json.loads(r.body)
    assert one["pipeline_version_id"] == newest
    assert root_inputs(one["pipeline_spec"]) == EXPECTED_INPUTS

    # the opt-in is one value, true or false
    url = f"{server_url}dsp/api/project/apis/v2beta1/pipelines/{pid}/versions"
    for query in ("include_specs=yes", "include_specs=true&include_specs=false"):
        r = await asyncio.to_thread(
            requests.get, f"{url}?{query}", headers={"Authorization": f"token {jupyter_token}"}
        )
        assert r.status_code == 400
        assert "include_specs" in r.json()["message"]


@pytest.fixture
def kfp_like(recording_upstream, dsp_config, tmp_path):
    """A KFP-like upstream (not the embedded stack), configured before the server starts."""
    token_file = tmp_path / "token"
    token_file.write_text("upstream-token-1234567890")
    dsp_config.update(endpoint=recording_upstream.url, token_file=str(token_file))
    return recording_upstream


async def test_any_kfp_upstream_and_the_opt_in_is_not_forwarded(kfp_like, jp_fetch):
    """Not the embedded stack: an upstream answering as KFP's Go server does (indented JSON,
    specs of every shape) gets its list stripped by the proxy all the same."""
    spec = typed_spec()
    versions = [
        {
            "pipeline_id": "p1",
            "pipeline_version_id": "v1",
            "pipeline_spec": spec,
            "display_name": 'one \\" } ] {',
            "platform_spec": {"platforms": {"kubernetes": {}}},
        },
        {
            "pipeline_spec": [1, "]", {"x": None}],
            "pipeline_version_id": "v2",
            "platform_spec": None,
        },
        {"pipeline_version_id": "v3", "pipeline_spec": "as a string"},
    ]
    recording_upstream = kfp_like
    recording_upstream.multi_user = False
    recording_upstream.body = json.dumps(
        {"pipeline_versions": versions, "total_size": 3, "next_page_token": ""}, indent=2
    ).encode()
    r = await jp_fetch(*API, "pipelines", "p1", "versions")
    got = json.loads(r.body)
    assert got == {
        "pipeline_versions": [
            {"pipeline_id": "p1", "pipeline_version_id": "v1", "display_name": 'one \\" } ] {'},
            {"pipeline_version_id": "v2"},
            {"pipeline_version_id": "v3"},
        ],
        "total_size": 3,
        "next_page_token": "",
    }
    r = await jp_fetch(*API, "pipelines", "p1", "versions", params={"include_specs": "true"})
    assert json.loads(r.body)["pipeline_versions"] == versions
    sent = [s["uri"] for s in recording_upstream.seen if "/versions" in s["uri"]]
    assert len(sent) == 2 and all("include_specs" not in uri for uri in sent)


async def test_fifty_big_versions_move_little(
    proxied_stack, jp_fetch, server_url, jupyter_token, unique_name
):
    """50 versions of a ~2 MB spec: the stack's list page is ~100 MB; through the proxy the
    client receives under 1 MB by default (bytes on the wire, counted)."""
    spec = padded(typed_spec(), 2 * 1024 * 1024)
    assert len(json.dumps(spec)) > 2_000_000
    pid, _ = await asyncio.to_thread(
        create_pipeline, proxied_stack.url, proxied_stack.token, unique_name("big"), spec
    )
    for i in range(49):
        await asyncio.to_thread(
            add_version, proxied_stack.url, proxied_stack.token, pid, f"big-{i}", spec
        )

    def received(url: str, token: str, params: dict) -> tuple[int, dict]:
        headers = {"Authorization": f"Bearer {token}", "Accept-Encoding": "identity"}
        with requests.get(url, headers=headers, params=params, stream=True, timeout=300) as r:
            r.raise_for_status()
            assert "Content-Encoding" not in r.headers  # the bytes counted are the wire's
            body = b"".join(r.iter_content(1 << 16))
            return len(body), json.loads(body)

    path = f"apis/v2beta1/pipelines/{pid}/versions"
    upstream_bytes, _ = await asyncio.to_thread(
        received, f"{proxied_stack.url}/{path}", proxied_stack.token, {"page_size": 50}
    )
    tracemalloc.start()  # the server runs in this process: its allocations are traced
    try:
        proxied_bytes, page = await asyncio.to_thread(
            received, f"{server_url}dsp/api/project/{path}", jupyter_token, {"page_size": 50}
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(
        f"\nversion list of 50 x 2 MB specs: stack {upstream_bytes} B, proxy {proxied_bytes} B, "
        f"peak traced memory while proxying {peak / 1e6:.1f} MB"
    )
    assert peak < 16_000_000  # pieces of 64 KB, never the page (~105 MB) nor a spec (2 MB)
    assert len(page["pipeline_versions"]) == 50
    assert upstream_bytes > 50 * 2_000_000
    assert proxied_bytes < 1_000_000
    asked_bytes, asked = await asyncio.to_thread(
        received,
        f"{server_url}dsp/api/project/{path}",
        jupyter_token,
        {"page_size": 2, "include_specs": "true"},
    )
    assert asked_bytes > 2 * 2_000_000
    assert root_inputs(asked["pipeline_versions"][0]["pipeline_spec"]) == EXPECTED_INPUTS
