"""Raw HTTP against the embedded stack: status codes, KFP error bodies, auth, modes."""

from __future__ import annotations

import json

import pytest
from stack_http import assert_kfp_error, call, upload


def test_healthz_needs_no_token(stack):
    response = call(stack, "GET", "/healthz", token=False)
    assert response.status_code == 200
    assert response.json()["multi_user"] is True


@pytest.mark.parametrize("header", [None, "Bearer ", "Bearer nope", "Basic abc"])
def test_missing_or_unknown_token_is_401(stack, header):
    headers = {} if header is None else {"Authorization": header}
    response = call(stack, "GET", "/pipelines", token=False, headers=headers)
    assert assert_kfp_error(response, 401)["code"] == 16


def test_unknown_pipeline_is_404(stack):
    assert_kfp_error(call(stack, "GET", "/pipelines/does-not-exist"), 404)


def test_negative_page_size_is_400(stack):
    body = assert_kfp_error(call(stack, "GET", "/pipelines", params={"page_size": -1}), 400)
    assert body["code"] == 3


def test_same_name_twice_is_409_in_upload_error_shape(stack, unique_name):
    name = unique_name("dup")
    assert upload(stack, name).status_code == 200
    second = upload(stack, name)
    assert second.status_code == 409
    assert set(second.json()) == {"error_message", "error_details"}


def test_recurring_runs_need_a_token(stack):
    assert_kfp_error(call(stack, "GET", "/recurringruns", token=False), 401)


def test_unknown_path_is_kfp_404(stack):
    assert_kfp_error(call(stack, "GET", "/nothing-here"), 404)


def test_view_only_token_cannot_upload_to_its_namespace(stack_factory, unique_name):
    h = stack_factory(tokens={"viewer": ({"team-a": "view"}, "none")})
    response = upload(h, unique_name("p"), token=h.tokens["viewer"], namespace="team-a")
    assert response.status_code == 403
    assert set(response.json()) == {"error_message", "error_details"}


def test_single_user_mode_ignores_namespaces(stack_factory, unique_name):
    h = stack_factory(single_user=True, in_process=True)
    assert call(h, "GET", "/healthz", token=False).json()["multi_user"] is False
    created = upload(h, unique_name("p"), namespace="team-x")
    assert created.status_code == 200, created.text
    assert "namespace" not in created.json()
    listed = call(h, "GET", "/pipelines", params={"namespace": "anything"}).json()
    assert [p["pipeline_id"] for p in listed["pipelines"]] == [created.json()["pipeline_id"]]


def test_stack_json_has_no_token(stack):
    state = json.loads((stack.data_dir / "stack.json").read_text())
    assert state["url"] == stack.url
    assert stack.token not in json.dumps(state)
    assert (stack.data_dir / "token").stat().st_mode & 0o077 == 0


def test_oversize_json_body_gets_413_json(stack):
    body = '{"name": "' + "x" * (5 * 1024 * 1024) + '"}'
    response = call(
        stack, "POST", "/pipelines", data=body, headers={"Content-Type": "application/json"}
    )
    assert assert_kfp_error(response, 413)["code"] == 8


def test_large_but_allowed_json_body_is_parsed(stack):
    response = call(stack, "POST", "/pipelines", json={"name": "x" * 200_000})
    assert "longer than 128" in assert_kfp_error(response, 400)["message"]


def test_default_namespace_option(stack_factory, tmp_path):
    first = stack_factory(default_namespace="team-x", in_process=True, data_dir=tmp_path / "d")
    created = call(first, "POST", "/experiments", json={"display_name": "e"})
    assert created.json()["namespace"] == "team-x"
    token = first.token
    first.stop()
    again = stack_factory(default_namespace="team-y", in_process=True, data_dir=tmp_path / "d")
    assert again.token == token
    moved = call(again, "POST", "/experiments", json={"display_name": "e"})
    assert moved.status_code == 200 and moved.json()["namespace"] == "team-y"


def test_unsupported_method_is_kfp_405(stack):
    body = assert_kfp_error(call(stack, "PUT", "/pipelines", json={}), 405)
    assert body["code"] == 12
