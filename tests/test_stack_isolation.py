"""Namespaces and tokens: who sees and who may change what (multi-user mode)."""

from __future__ import annotations

import pytest
from stack_http import VALID, assert_kfp_error, assert_upload_error, call, upload, upload_bytes

TOKENS = {
    "alice": ({"team-a": "edit"}, "view"),
    "bob": ({"team-b": "edit"}, "none"),
    "viewer": ({"team-a": "view"}, "view"),
    "curator": ({}, "edit"),
}


@pytest.fixture(scope="module")
def two_teams(tmp_path_factory):
    from jupyter_dsp.stack import start_stack

    handle = start_stack(tmp_path_factory.mktemp("iso") / "data", in_process=True)
    handle.tokens = {s: handle.create_token(s, ns, shared) for s, (ns, shared) in TOKENS.items()}
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def pipelines(two_teams):
    t = two_teams.tokens
    made = {
        "a": upload(two_teams, "a-private", t["alice"], namespace="team-a").json(),
        "b": upload(two_teams, "b-private", t["bob"], namespace="team-b").json(),
        "shared": upload(two_teams, "everyone", t["curator"]).json(),
    }
    assert all("pipeline_id" in p for p in made.values()), made
    return made


def ids(response):
    return {p["pipeline_id"] for p in response.json().get("pipelines", [])}


def test_each_team_lists_only_its_namespace(two_teams, pipelines):
    t = two_teams.tokens
    a = call(two_teams, "GET", "/pipelines", t["alice"], params={"namespace": "team-a"})
    b = call(two_teams, "GET", "/pipelines", t["bob"], params={"namespace": "team-b"})
    assert ids(a) == {pipelines["a"]["pipeline_id"]}
    assert ids(b) == {pipelines["b"]["pipeline_id"]}


def test_both_see_shared_pipelines(two_teams, pipelines):
    for who in ("alice", "bob", "viewer"):
        listed = call(two_teams, "GET", "/pipelines", two_teams.tokens[who])
        assert ids(listed) == {pipelines["shared"]["pipeline_id"]}
        got = call(
            two_teams,
            "GET",
            f"/pipelines/{pipelines['shared']['pipeline_id']}",
            two_teams.tokens[who],
        )
        assert got.status_code == 200


def test_a_team_cannot_list_get_or_touch_the_other(two_teams, pipelines):
    t = two_teams.tokens
    b_id = pipelines["b"]["pipeline_id"]
    assert_kfp_error(
        call(two_teams, "GET", "/pipelines", t["alice"], params={"namespace": "team-b"}), 403
    )
    assert_kfp_error(call(two_teams, "GET", f"/pipelines/{b_id}", t["alice"]), 403)
    assert_kfp_error(call(two_teams, "GET", f"/pipelines/{b_id}/versions", t["alice"]), 403)
    assert_kfp_error(
        call(
            two_teams,
            "GET",
            "/pipelines/names/b-private",
            t["alice"],
            params={"namespace": "team-b"},
        ),
        403,
    )
    assert_kfp_error(
        call(two_teams, "DELETE", f"/pipelines/{b_id}", t["alice"], params={"cascade": "true"}), 403
    )
    assert_kfp_error(
        call(two_teams, "PATCH", f"/pipelines/{b_id}", t["alice"], json={"display_name": "mine"}),
        403,
    )
    assert_upload_error(upload(two_teams, "x", t["alice"], namespace="team-b"), 403)
    version = upload_bytes(
        two_teams,
        "p.yaml",
        (VALID / "hello_world.yaml").read_bytes(),
        t["alice"],
        endpoint="/pipelines/upload_version",
        name="intruder",
        pipelineid=b_id,
    )
    assert_upload_error(version, 403)
    still = call(two_teams, "GET", f"/pipelines/{b_id}", t["bob"]).json()
    assert still["display_name"] == "b-private"


def test_view_only_token_reads_but_cannot_upload(two_teams, pipelines):
    viewer = two_teams.tokens["viewer"]
    listed = call(two_teams, "GET", "/pipelines", viewer, params={"namespace": "team-a"})
    assert ids(listed) == {pipelines["a"]["pipeline_id"]}
    assert_upload_error(upload(two_teams, "nope", viewer, namespace="team-a"), 403)
    assert_kfp_error(
        call(two_teams, "POST", "/pipelines", viewer, json={"name": "nope", "namespace": "team-a"}),
        403,
    )


def test_shared_writes_need_shared_edit(two_teams, pipelines):
    t = two_teams.tokens
    shared_id = pipelines["shared"]["pipeline_id"]
    assert_upload_error(upload(two_teams, "not-mine", t["alice"]), 403)
    assert_kfp_error(
        call(two_teams, "DELETE", f"/pipelines/{shared_id}", t["bob"], params={"cascade": "true"}),
        403,
    )
    assert_kfp_error(call(two_teams, "POST", "/pipelines", t["alice"], json={"name": "s"}), 403)
    ok = upload(two_teams, "curated-2", t["curator"])
    assert ok.status_code == 200


def test_experiments_are_namespaced_too(two_teams):
    t = two_teams.tokens
    created = call(
        two_teams,
        "POST",
        "/experiments",
        t["alice"],
        json={"display_name": "exp-a", "namespace": "team-a"},
    )
    assert created.status_code == 200, created.text
    exp_id = created.json()["experiment_id"]
    assert_kfp_error(call(two_teams, "GET", f"/experiments/{exp_id}", t["bob"]), 403)
    assert_kfp_error(
        call(two_teams, "GET", "/experiments", t["bob"], params={"namespace": "team-a"}), 403
    )
    assert_kfp_error(
        call(
            two_teams,
            "POST",
            "/experiments",
            t["viewer"],
            json={"display_name": "x", "namespace": "team-a"},
        ),
        403,
    )


def test_a_revoked_token_is_refused(two_teams):
    from jupyter_dsp.stack.auth import TokenStore
    from jupyter_dsp.stack.db import Database

    token = two_teams.create_token("temp", {"team-a": "view"}, "none")
    assert call(two_teams, "GET", "/pipelines", token).status_code == 200
    db = Database(two_teams.data_dir / "stack.db")
    try:
        store = TokenStore(db.conn)
        token_id = next(i.token_id for i in store.list() if i.subject == "temp")
        store.revoke(token_id)
    finally:
        db.close()
    assert_kfp_error(call(two_teams, "GET", "/pipelines", token), 401)
