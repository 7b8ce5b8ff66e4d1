"""The proxy's allowlist and namespace pinning as plain logic (no server)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jupyter_dsp.server.errors import ProxyError
from jupyter_dsp.server.routes import match


def project(method: str, path: str, query=()):
    return match("project", "team-a", True, "read-only", method, path, list(query))


def shared(method: str, path: str, query=(), writable: bool = False, policy: str = "read-only"):
    return match("shared", "", writable, policy, method, path, list(query))


@pytest.mark.parametrize(
    ("method", "path", "kind"),
    [
        ("GET", "apis/v2beta1/healthz", "healthz"),
        ("GET", "apis/v2beta1/pipelines", "pipelines.list"),
        ("POST", "apis/v2beta1/pipelines", "pipelines.create"),
        ("POST", "apis/v2beta1/pipelines/create", "pipelines.create_with_version"),
        ("POST", "apis/v2beta1/pipelines/upload", "pipelines.upload"),
        ("POST", "apis/v2beta1/pipelines/upload_version", "pipelines.upload_version"),
        ("GET", "apis/v2beta1/pipelines/names/my%20pipeline", "pipelines.by_name"),
        ("GET", "apis/v2beta1/pipelines/p-1", "pipelines.item"),
        ("DELETE", "apis/v2beta1/pipelines/p-1", "pipelines.item"),
        ("PATCH", "apis/v2beta1/pipelines/p-1", "pipelines.item"),
        ("GET", "apis/v2beta1/pipelines/p-1/versions", "versions.collection"),
        ("POST", "apis/v2beta1/pipelines/p-1/versions", "versions.collection"),
        ("GET", "apis/v2beta1/pipelines/p-1/versions/v-1", "versions.item"),
        ("GET", "apis/v2beta1/experiments", "experiments.list"),
        ("POST", "apis/v2beta1/experiments/e-1:archive", "experiments.action"),
        ("GET", "apis/v2beta1/runs", "runs.list"),
        ("POST", "apis/v2beta1/runs", "runs.create"),
        ("POST", "apis/v2beta1/runs/r-1:terminate", "runs.action"),
        ("POST", "apis/v2beta1/runs/r-1:retry", "runs.action"),
        ("GET", "apis/v2beta1/runs/r-1/tasks/t-1/logs", "runs.logs"),
        ("GET", "apis/v2beta1/runs/r-1/nodes/n-1/artifacts/model:read", "runs.artifact"),
    ],
)
def test_allowlist(method, path, kind):
    assert project(method, path).kind == kind


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "apis/v2beta1/jobs", 404),
        ("GET", "apis/v2beta1/auth", 404),
        ("GET", "apis/v1beta1/pipelines", 404),
        ("GET", "apis/v2beta1/pipelines/p-1/versions/v-1/x", 404),
        ("GET", "apis/v2beta1/runs/r-1:explode", 404),
        ("GET", "apis/v2beta1/pipelines/%2e%2e", 404),
        ("GET", "apis/v2beta1/pipelines/a%2Fb", 404),
        ("GET", "apis/v2beta1/pipelines/%252e%252e", 404),
        ("GET", "apis/v2beta1/pipelines/a%00b", 404),
        ("GET", "/apis/v2beta1/healthz", 404),
        ("GET", "apis//v2beta1/healthz", 404),
        ("GET", "apis/v2beta1/pipelines/bad%ZZ", 404),
        ("PUT", "apis/v2beta1/pipelines/p-1", 405),
        ("DELETE", "apis/v2beta1/pipelines", 405),
    ],
)
def test_refused(method, path, status):
    with pytest.raises(ProxyError) as err:
        project(method, path)
    assert err.value.status == status


def test_namespace_pinned_in_project():
    route = project("GET", "apis/v2beta1/pipelines", [("page_size", "5")])
    assert route.upstream_target() == "/apis/v2beta1/pipelines?page_size=5&namespace=team-a"
    route = project("GET", "apis/v2beta1/runs", [("namespace", "team-a")])
    assert route.query == [("namespace", "team-a")]
    with pytest.raises(ProxyError) as err:
        project("GET", "apis/v2beta1/experiments", [("namespace", "team-b")])
    assert err.value.status == 403
    # a namespace on a call that does not take one is still checked, never forwarded as is
    route = project("GET", "apis/v2beta1/pipelines/p-1", [("namespace", "")])
    assert route.query == []


def test_shared_space_rules():
    route = shared("GET", "apis/v2beta1/pipelines")
    assert "namespace" not in dict(route.query)
    with pytest.raises(ProxyError) as err:
        shared("GET", "apis/v2beta1/pipelines", [("namespace", "team-a")])
    assert err.value.status == 403
    with pytest.raises(ProxyError) as err:
        shared("POST", "apis/v2beta1/pipelines/upload")
    assert err.value.status == 403 and "read-only" in err.value.message
    with pytest.raises(ProxyError) as err:
        shared("GET", "apis/v2beta1/runs")
    assert err.value.status == 404
    assert shared("POST", "apis/v2beta1/pipelines/upload", writable=True, policy="read-write")


def test_bad_query_names_are_400():
    with pytest.raises(ProxyError) as err:
        project("GET", "apis/v2beta1/pipelines", [("a b", "1")])
    assert err.value.status == 400


def test_segments_are_reencoded_upstream():
    route = project("GET", "apis/v2beta1/pipelines/names/my%20pipeline%3F")
    assert route.upstream_path() == "/apis/v2beta1/pipelines/names/my%20pipeline%3F"


SEGMENTS = st.sampled_from(
    [
        "apis",
        "v2beta1",
        "pipelines",
        "runs",
        "experiments",
        "versions",
        "upload",
        "healthz",
        "..",
        ".",
        "",
        "%2e%2e",
        "%2F",
        "%252e",
        "a:b",
        "x",
        "p-1",
        "%00",
        "\\",
        "names",
        "logs",
        "tasks",
        "nodes",
        "artifacts",
        "m:read",
        "r-1:terminate",
        "http:",
        "127.0.0.1:1",
    ]
)


@given(
    method=st.sampled_from(["GET", "POST", "PATCH", "DELETE", "PUT"]),
    parts=st.lists(st.one_of(SEGMENTS, st.text(max_size=12)), max_size=8),
    space=st.sampled_from(["project", "shared"]),
)
@settings(max_examples=400, deadline=None, derandomize=True)
def test_any_path_is_refused_cleanly_or_stays_inside_the_api(method, parts, space):
    try:
        route = match(
            space,
            "team-a" if space == "project" else "",
            True,
            "read-write",
            method,
            "/".join(parts),
            [],
        )
    except ProxyError as exc:
        assert exc.status in (400, 403, 404, 405)
        return
    target = route.upstream_target()
    assert target.startswith("/apis/v2beta1/")
    path = target.split("?")[0]
    assert "//" not in path and "/../" not in path + "/" and "/./" not in path + "/"
    assert all(seg not in ("", ".", "..") for seg in path.split("/")[1:])
