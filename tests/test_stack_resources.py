"""Pipelines, versions and experiments end to end: create, get, update, delete, as KFP does."""

from __future__ import annotations

import functools
import http.server
import threading

import kfp
import pytest
import reference
from stack_http import VALID, assert_kfp_error, call, upload


@pytest.fixture(scope="module")
def package_server():
    """Serves KFP's compiled test pipelines over HTTP (upload from a URL)."""
    reference.require(VALID)  # the tests that use it skip without the reference data
    """Serves the reference pipelines over loopback HTTP (for package_url)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(VALID))
    handler.log_message = lambda *a: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_get_by_name_in_shared_and_in_a_namespace(stack, unique_name):
    name = unique_name("byname")
    shared = upload(stack, name).json()
    private = upload(stack, name, namespace="default").json()
    assert shared["pipeline_id"] != private["pipeline_id"], "names are unique per namespace"
    got = call(stack, "GET", f"/pipelines/names/{name}").json()
    assert got["pipeline_id"] == shared["pipeline_id"]
    got = call(stack, "GET", f"/pipelines/names/{name}", params={"namespace": "default"}).json()
    assert got["pipeline_id"] == private["pipeline_id"]
    missing = call(stack, "GET", f"/pipelines/names/{name}", params={"namespace": "elsewhere"})
    assert missing.status_code in (403, 404)
    assert_kfp_error(call(stack, "GET", "/pipelines/names/never-uploaded"), 404)


def test_delete_is_refused_while_versions_exist_unless_cascade(stack, unique_name):
    client = kfp.Client(host=stack.url, existing_token=stack.token)
    pipeline = client.upload_pipeline(str(VALID / "hello_world.yaml"), unique_name("del"))
    pid = pipeline.pipeline_id
    refused = assert_kfp_error(call(stack, "DELETE", f"/pipelines/{pid}"), 400)
    assert "cascade=true" in refused["message"]
    assert call(stack, "DELETE", f"/pipelines/{pid}", params={"cascade": "true"}).json() == {}
    assert_kfp_error(call(stack, "GET", f"/pipelines/{pid}"), 404)
    assert_kfp_error(call(stack, "DELETE", f"/pipelines/{pid}"), 404)


def test_delete_versions_then_the_pipeline_with_kfp_client(stack, unique_name):
    client = kfp.Client(host=stack.url, existing_token=stack.token)
    pipeline = client.upload_pipeline(str(VALID / "hello_world.yaml"), unique_name("del2"))
    versions = client.list_pipeline_versions(pipeline.pipeline_id).pipeline_versions
    client.delete_pipeline_version(pipeline.pipeline_id, versions[0].pipeline_version_id)
    assert_kfp_error(
        call(
            stack,
            "GET",
            f"/pipelines/{pipeline.pipeline_id}/versions/{versions[0].pipeline_version_id}",
        ),
        404,
    )
    client.delete_pipeline(pipeline.pipeline_id)
    assert_kfp_error(call(stack, "GET", f"/pipelines/{pipeline.pipeline_id}"), 404)


def test_create_pipeline_then_versions_from_package_urls(stack, unique_name, package_server):
    name = unique_name("created")
    created = call(stack, "POST", "/pipelines", json={"name": name, "description": "empty"})
    assert created.status_code == 200, created.text
    pid = created.json()["pipeline_id"]
    assert created.json()["display_name"] == name
    assert call(stack, "GET", f"/pipelines/{pid}/versions").json() == {}
    version = call(
        stack,
        "POST",
        f"/pipelines/{pid}/versions",
        json={
            "name": "v1",
            "package_url": {"pipeline_url": f"{package_server}/two_step_pipeline.yaml"},
        },
    )
    assert version.status_code == 200, version.text
    body = version.json()
    assert body["package_url"]["pipeline_url"].endswith("two_step_pipeline.yaml")
    assert body["pipeline_spec"]["pipelineInfo"]["name"] == "simple-two-step-pipeline"
    bad = call(
        stack,
        "POST",
        f"/pipelines/{pid}/versions",
        json={"name": "v2", "package_url": {"pipeline_url": f"{package_server}/missing.yaml"}},
    )
    assert "404" in assert_kfp_error(bad, 400)["message"]
    local = call(
        stack,
        "POST",
        f"/pipelines/{pid}/versions",
        json={"name": "v3", "package_url": {"pipeline_url": "file:///etc/passwd"}},
    )
    assert_kfp_error(local, 400)


def test_create_pipeline_and_version_in_one_call(stack, unique_name, package_server):
    name = unique_name("both")
    response = call(
        stack,
        "POST",
        "/pipelines/create",
        json={
            "pipeline": {"name": name, "namespace": "default"},
            "pipeline_version": {
                "package_url": {"pipeline_url": f"{package_server}/hello_world.yaml"}
            },
        },
    )
    assert response.status_code == 200, response.text
    pipeline = response.json()
    assert pipeline["namespace"] == "default" and pipeline["name"] == name
    versions = call(stack, "GET", f"/pipelines/{pipeline['pipeline_id']}/versions").json()
    assert versions["total_size"] == 1
    assert versions["pipeline_versions"][0]["name"] == name
    again = call(
        stack,
        "POST",
        "/pipelines/create",
        json={
            "pipeline": {"name": name, "namespace": "default"},
            "pipeline_version": {
                "package_url": {"pipeline_url": f"{package_server}/hello_world.yaml"}
            },
        },
    )
    assert_kfp_error(again, 409)


@pytest.mark.parametrize(
    "body, words",
    [
        ({"name": "x", "colour": "red"}, "colour"),
        ({"name": 5}, "wrong type"),
        ({}, "name"),
        ("[1, 2]", "object"),
    ],
    ids=["unknown-field", "wrong-type", "no-name", "not-object"],
)
def test_bad_create_bodies_are_400(stack, body, words):
    kwargs = {"data": body} if isinstance(body, str) else {"json": body}
    response = call(stack, "POST", "/pipelines", **kwargs)
    assert words in assert_kfp_error(response, 400)["message"]


def test_update_pipeline_and_version(stack, unique_name):
    pid = upload(stack, unique_name("upd")).json()["pipeline_id"]
    patched = call(
        stack,
        "PATCH",
        f"/pipelines/{pid}",
        json={"pipeline_id": pid, "display_name": "Nicer", "tags": {"k": "v"}},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["display_name"] == "Nicer" and patched.json()["tags"] == {"k": "v"}
    vid = call(stack, "GET", f"/pipelines/{pid}/versions").json()["pipeline_versions"][0][
        "pipeline_version_id"
    ]
    version = call(
        stack, "PATCH", f"/pipelines/{pid}/versions/{vid}", json={"display_name": "First"}
    )
    assert version.json()["display_name"] == "First"
    assert_kfp_error(call(stack, "PATCH", f"/pipelines/{pid}", json={"oops": 1}), 400)
    assert_kfp_error(call(stack, "PATCH", "/pipelines/nope", json={"display_name": "x"}), 404)


def test_experiments_lifecycle(stack, unique_name):
    client = kfp.Client(host=stack.url, existing_token=stack.token)
    name = unique_name("exp")
    experiment = client.create_experiment(name, description="about", namespace="default")
    eid = experiment.experiment_id
    assert call(stack, "GET", f"/experiments/{eid}").json()["storage_state"] == "AVAILABLE"
    client.archive_experiment(eid)
    assert client.get_experiment(experiment_id=eid).storage_state == "ARCHIVED"
    client.unarchive_experiment(eid)
    assert client.get_experiment(experiment_id=eid).storage_state == "AVAILABLE"
    duplicate = call(
        stack, "POST", "/experiments", json={"display_name": name, "namespace": "default"}
    )
    assert_kfp_error(duplicate, 409)
    client.delete_experiment(eid)
    assert_kfp_error(call(stack, "GET", f"/experiments/{eid}"), 404)
    assert_kfp_error(call(stack, "POST", f"/experiments/{eid}:archive"), 404)
    assert_kfp_error(call(stack, "POST", "/experiments", json={"namespace": "default"}), 400)


def test_experiment_without_namespace_lands_in_the_default_namespace(stack, unique_name):
    created = call(stack, "POST", "/experiments", json={"display_name": unique_name("e")})
    assert created.json()["namespace"] == "default"


class _Redirect(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.send_response(302)
        self.send_header("Location", "ftp://127.0.0.1/pipeline.yaml")
        self.end_headers()

    def log_message(self, *args) -> None:
        return


def test_package_url_redirects_only_to_http(stack, unique_name):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Redirect)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/p.yaml"
        response = call(
            stack,
            "POST",
            "/pipelines/create",
            json={
                "pipeline": {"name": unique_name("redir")},
                "pipeline_version": {"package_url": {"pipeline_url": url}},
            },
        )
        assert "302" in assert_kfp_error(response, 400)["message"]
    finally:
        server.shutdown()
        server.server_close()
