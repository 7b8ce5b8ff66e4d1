"""Bad input, on the stack directly and through the server extension's proxy: requests generated
from the KFP swagger, malformed uploads of every kind, oversized bodies, hostile names.

No answer may be a 5xx or carry a traceback; every refusal is KFP-shaped JSON; nothing refused
is stored; every accepted name comes back exactly as it was sent.

The swagger-driven generation reuses tests/test_stack_fuzz.py (its schema and operation list,
which covers the stack directly) and adds the proxy path and the run endpoints.
"""

from __future__ import annotations

import asyncio
import json

import reliability_input_helpers
from reliability_helpers import Tally, Target, all_pipelines, assert_clean_error, record
from reliability_input_helpers import HELLO, NEW_RUN_OPERATIONS, fuzz, runs_supported, targets
from test_stack_fuzz import OPERATIONS

pytest_plugins = (
    "pytest_jupyter.jupyter_server",
    "fixtures_cluster",
    "fixtures_server",
)

jp_server_config = reliability_input_helpers.jp_server_config  # a fixture


async def test_swagger_fuzz_through_the_proxy_and_the_run_endpoints(
    proxied_stack, server_url, jupyter_token
):
    direct, proxy = targets(proxied_stack, server_url, jupyter_token)
    assert await asyncio.to_thread(runs_supported, direct), "the stack answers 501 for runs"
    run_ops = NEW_RUN_OPERATIONS
    tally = Tally()
    shared = Target.proxy(server_url, jupyter_token, "shared")
    shared.name = "shared"
    shared_ops = [op for op in OPERATIONS if op[1] == "GET"]  # read-only policy: reads
    await asyncio.to_thread(fuzz, proxy, OPERATIONS + run_ops, tally)
    await asyncio.to_thread(fuzz, shared, shared_ops, tally)
    await asyncio.to_thread(fuzz, direct, run_ops, tally)  # the rest: tests/test_stack_fuzz.py
    record(
        "input_swagger_fuzz",
        operations_through_proxy=len(OPERATIONS + run_ops),
        read_operations_through_shared_proxy=len(shared_ops),
        run_operations_direct=len(run_ops),
        inputs_tried=tally["proxy_inputs"] + tally["shared_inputs"] + tally["stack_inputs"],
        server_errors=0,
    )
    assert tally["proxy_inputs"] >= len(OPERATIONS) * 5


# ---- malformed uploads -------------------------------------------------------------------


def multipart(parts: list[tuple[str, str, str | None, bytes]], boundary: str = "b0undary") -> bytes:
    """Parts of (header name, field, filename, content), assembled by hand: nothing checked."""
    out = b""
    for _, field, filename, content in parts:
        disposition = f'form-data; name="{field}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        out += content + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


FORM = "multipart/form-data; boundary=b0undary"
GOOD_PART = ("", "uploadfile", "p.yaml", HELLO)
# the multipart envelope itself is broken (or over tornado's part limit)
BROKEN_FRAMING: dict[str, tuple[str, bytes]] = {
    "no body": (FORM, b""),
    "multipart without boundary": ("multipart/form-data", multipart([GOOD_PART])),
    "empty boundary": ('multipart/form-data; boundary=""', multipart([GOOD_PART])),
    "boundary mismatch": ("multipart/form-data; boundary=other", multipart([GOOD_PART])),
    "truncated (no closing boundary)": (FORM, multipart([GOOD_PART])[:-40]),
    "cut in the middle of the file": (FORM, multipart([GOOD_PART])[: len(HELLO) // 2]),
    "1000 empty parts": (FORM, multipart([("", f"f{i}", None, b"") for i in range(1000)])),
    "garbage instead of multipart": (FORM, b"\x00\x01--b0undary\r\n\xff" * 100),
    "headers only, no blank line": (
        FORM,
        b'--b0undary\r\nContent-Disposition: form-data; name="uploadfile"; filename="p.yaml"',
    ),
}
# a readable envelope with the wrong things in it
MALFORMED: dict[str, tuple[str, bytes]] = {
    "yaml body, not multipart": ("application/x-yaml", HELLO),
    "json body, not multipart": ("application/json", json.dumps({"uploadfile": "x"}).encode()),
    "wrong field name": (FORM, multipart([("", "file", "p.yaml", HELLO)])),
    "field without filename": (FORM, multipart([("", "uploadfile", None, HELLO)])),
    "empty file": (FORM, multipart([("", "uploadfile", "p.yaml", b"")])),
    "binary garbage file": (FORM, multipart([("", "uploadfile", "p.yaml", bytes(range(256)) * 8)])),
    "png named yaml": (FORM, multipart([("", "uploadfile", "p.yaml", b"\x89PNG\r\n\x1a\n" * 20)])),
    "garbage zip": (FORM, multipart([("", "uploadfile", "p.zip", b"PK\x03\x04" + b"\0" * 64)])),
    "garbage tar.gz": (FORM, multipart([("", "uploadfile", "p.tar.gz", b"\x1f\x8b" + b"x" * 64)])),
    "yaml list, not a pipeline": (FORM, multipart([("", "uploadfile", "p.yaml", b"- a\n- b\n")])),
    "json of another shape": (
        FORM,
        multipart([("", "uploadfile", "p.json", json.dumps({"kind": "Pod"}).encode())]),
    ),
    "invalid utf-8": (FORM, multipart([("", "uploadfile", "p.yaml", b"name: \xff\xfe\xfd\n")])),
}
# query-level mistakes on a well-formed upload
BAD_QUERIES: dict[str, tuple[str, dict[str, str]]] = {
    "name longer than 128": ("/pipelines/upload", {"name": "n" * 129}),
    "namespace with a slash": ("/pipelines/upload", {"name": "x", "namespace": "../etc"}),
    "version of no pipeline": ("/pipelines/upload_version", {"name": "v"}),
    "version of an unknown pipeline": (
        "/pipelines/upload_version",
        {"name": "v", "pipelineid": "00000000-0000-0000-0000-000000000000"},
    ),
    "version of a malformed id": ("/pipelines/upload_version", {"name": "v", "pipelineid": "%"}),
}


def stored_names(target: Target) -> set[str]:
    names = {p["display_name"] for p in all_pipelines(target).values()}
    return names | {p["display_name"] for p in all_pipelines(target, "default").values()}


def send_bodies(target: Target, bodies: dict[str, tuple[str, bytes]], tally: Tally) -> list[str]:
    problems: list[str] = []
    for what, (content_type, body) in bodies.items():
        response = target.request(
            "POST",
            "/pipelines/upload",
            params={"name": f"malformed {what}"},
            data=body,
            headers={"Content-Type": content_type},
        )
        tally.add("inputs")
        try:
            assert_clean_error(response)
        except AssertionError as exc:
            problems.append(f"{target.name}: {what}: {exc}")
    return problems


def send_bad_queries(target: Target, tally: Tally) -> list[str]:
    problems: list[str] = []
    for what, (path, params) in BAD_QUERIES.items():
        response = target.request("POST", path, params=params, files={"uploadfile": HELLO})
        tally.add("inputs")
        try:
            assert_clean_error(response)
        except AssertionError as exc:
            problems.append(f"{target.name}: {what}: {exc}")
    return problems


async def test_malformed_uploads_are_refused_clearly_and_store_nothing(
    proxied_stack, server_url, jupyter_token
):
    tally = Tally()
    problems: list[str] = []
    direct = Target.stack(proxied_stack)
    before = await asyncio.to_thread(stored_names, direct)
    for target in targets(proxied_stack, server_url, jupyter_token):
        problems += await asyncio.to_thread(send_bodies, target, MALFORMED, tally)
        problems += await asyncio.to_thread(send_bad_queries, target, tally)
    after = await asyncio.to_thread(stored_names, direct)
    record(
        "input_malformed_uploads",
        kinds=len(MALFORMED) + len(BAD_QUERIES),
        inputs_tried=tally["inputs"],
        badly_answered=len(problems),
        stored_by_mistake=len(after - before),
    )
    assert not problems, "\n".join(problems)
    assert after == before


async def test_broken_multipart_envelopes_are_refused_clearly(
    proxied_stack, server_url, jupyter_token
):
    tally = Tally()
    problems: list[str] = []
    for target in targets(proxied_stack, server_url, jupyter_token):
        problems += await asyncio.to_thread(send_bodies, target, BROKEN_FRAMING, tally)
    record(
        "input_broken_multipart_envelopes",
        kinds=len(BROKEN_FRAMING),
        inputs_tried=tally["inputs"],
        badly_answered=len(problems),
    )
    assert not problems, "\n".join(problems)


# ---- oversized bodies ----------------------------------------------------------------------


def send_oversized(target: Target) -> list[tuple[str, int]]:
    huge_yaml = HELLO + b"\n# " + b"x" * (33 * 1024 * 1024) + b"\n"  # over the 32 MB limit
    huge_json = {"display_name": "too-big", "description": "x" * (5 * 1024 * 1024)}
    answers = []
    for what, response in (
        ("upload over 32 MB", target.upload("too-big", huge_yaml)),
        ("JSON body over 4 MB", target.request("POST", "/pipelines", json=huge_json)),
        ("experiment over 4 MB", target.request("POST", "/experiments", json=huge_json)),
    ):
        assert_clean_error(response)
        answers.append((what, response.status_code))
    return answers


async def test_oversized_bodies_get_413_and_the_stack_keeps_serving(
    proxied_stack, server_url, jupyter_token
):
    answers: list[tuple[str, str, int]] = []
    for target in targets(proxied_stack, server_url, jupyter_token):
        for what, status in await asyncio.to_thread(send_oversized, target):
            answers.append((target.name, what, status))
        ok = await asyncio.to_thread(target.upload, f"after-oversized-{target.name}", HELLO)
        assert ok.status_code == 200, ok.text
    names = await asyncio.to_thread(stored_names, Target.stack(proxied_stack))
    record("input_oversized_bodies", inputs_tried=len(answers), answers=answers, data_lost=0)
    assert {status for _, _, status in answers} == {413}, answers
    assert "too-big" not in names


# ---- hostile names -----------------------------------------------------------------------
