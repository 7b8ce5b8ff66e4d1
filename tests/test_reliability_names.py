"""Hostile names, on the stack directly and through the server extension's proxy: unicode,
128 characters, path and control characters and generated text as pipeline, version and
experiment names are stored and listed back intact, or refused clearly."""

from __future__ import annotations

import asyncio
import json
import urllib.parse
import uuid

import reliability_input_helpers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_helpers import Tally, Target, assert_clean_error, record
from reliability_input_helpers import EXAMPLES, HELLO, targets

from jupyter_dsp.server.routes import UNSAFE_SEGMENT

pytest_plugins = (
    "pytest_jupyter.jupyter_server",
    "fixtures_cluster",
    "fixtures_server",
)

jp_server_config = reliability_input_helpers.jp_server_config  # a fixture

HOSTILE = [
    "a/b",
    "../../etc/passwd",
    "..\\..\\windows\\system32",
    "%2e%2e%2f%00",
    "?x=1&namespace=other#frag",
    "名前 パイプライン",
    "конвейер",
    "خط أنابيب",
    "🚀 pipeline 🔥",
    "e\u0301 (combining accent)",
    "\u202eright-to-left override",
    "zero\u200bwidth",
    "\ufeffbyte order mark",
    "<script>alert(1)</script>",
    "'; DROP TABLE pipelines;--",
    '{"json": "inside"}',
    "tab\tand\nnewline",
    "x" * 128,
    "é" * 128,
    "🚀" * 128,
]
# any text a query string can carry (no lone surrogates: they cannot be encoded in UTF-8)
GENERATED = st.text(alphabet=st.characters(exclude_categories=("Cs",)), min_size=1, max_size=128)


def round_trip(target: Target, name: str, namespace: str | None) -> list[str]:
    """Upload ``name`` (and a version and an experiment named after it), then read them back
    every way."""
    where = {"namespace": namespace} if namespace else {}
    problems = []
    response = target.upload(name, HELLO, **where)
    if response.status_code != 200:
        return [f"{name!r}: upload answered {response.status_code} {response.text[:200]}"]
    pid = response.json()["pipeline_id"]
    got = target.request("GET", f"/pipelines/{pid}").json()
    if got.get("display_name") != name:
        problems.append(f"{name!r}: stored as {got.get('display_name')!r}")
    predicate = {"key": "display_name", "operation": "EQUALS", "string_value": name}
    listed = target.request(
        "GET", "/pipelines", params={"filter": json.dumps({"predicates": [predicate]}), **where}
    ).json()
    if [p["pipeline_id"] for p in listed.get("pipelines", [])] != [pid]:
        problems.append(f"{name!r}: filter by name lists {listed}")
    if name not in (".", ".."):  # clients normalise dot segments away before sending
        by_name = target.request(
            "GET", "/pipelines/names/" + urllib.parse.quote(name, safe=""), params=where
        )
        if target.name == "proxy" and UNSAFE_SEGMENT.search(name):
            # the proxy refuses path segments with / \\ % or control characters (traversal)
            assert_clean_error(by_name)
        elif by_name.status_code != 200 or by_name.json().get("pipeline_id") != pid:
            problems.append(f"{name!r}: get by name answered {by_name.status_code}")
    experiment_name = f"{uuid.uuid4().hex[:6]} {name}"[:128]  # unique in namespace default
    created = target.request(
        "POST", "/experiments", json={"display_name": experiment_name, "namespace": "default"}
    )
    if created.status_code != 200:
        problems.append(f"{experiment_name!r}: experiment answered {created.status_code}")
    else:
        eid = created.json()["experiment_id"]
        got_exp = target.request("GET", f"/experiments/{eid}").json().get("display_name")
        if got_exp != experiment_name:
            problems.append(f"{experiment_name!r}: experiment stored as {got_exp!r}")
    version_name = ("v " + name)[:128]  # the first version already has the pipeline's name
    version = target.request(
        "POST",
        "/pipelines/upload_version",
        params={"name": version_name, "pipelineid": pid},
        files={"uploadfile": ("p.yaml", HELLO)},
    )
    if version.status_code != 200:
        problems.append(f"{name!r}: version upload answered {version.status_code}")
    else:
        versions = target.request("GET", f"/pipelines/{pid}/versions").json()
        names = {v["display_name"] for v in versions.get("pipeline_versions", [])}
        if version_name not in names:
            problems.append(f"{version_name!r}: version listed as {names}")
    return problems


def hostile_names(target: Target, namespace: str | None, tally: Tally) -> list[str]:
    problems: list[str] = []
    seen: set[str] = set()
    for name in HOSTILE:
        problems += round_trip(target, name, namespace)
        seen.add(name)
        tally.add("inputs")

    @settings(
        max_examples=EXAMPLES * 2,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(name=GENERATED)
    def generated(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        tally.add("inputs")
        problems.extend(round_trip(target, name, namespace))

    generated()
    return problems


async def test_hostile_names_are_stored_and_listed_back_intact(
    proxied_stack, server_url, jupyter_token
):
    tally = Tally()
    direct, proxy = targets(proxied_stack, server_url, jupyter_token)
    problems = await asyncio.to_thread(hostile_names, direct, None, tally)  # shared
    problems += await asyncio.to_thread(hostile_names, proxy, None, tally)  # pinned: private
    record(
        "input_hostile_names",
        inputs_tried=tally["inputs"],
        requests_per_input=8,
        not_intact=len(problems),
    )
    assert not problems, "\n".join(problems[:20])


def test_names_with_surrounding_spaces_or_control_characters_are_kept_or_refused(proxied_stack):
    direct = Target.stack(proxied_stack)
    problems: list[str] = []
    for name in (" leading space", "trailing space ", "   ", "nul\x00inside", "bell\x07inside"):
        response = direct.upload(name, HELLO, namespace="default")
        if response.status_code == 200:
            stored = response.json()["display_name"]
            if stored != name:
                problems.append(f"{name!r} stored as {stored!r}")
        else:
            assert_clean_error(response)  # refusing it clearly is fine too
    assert not problems, problems
