"""The server extension against a real embedded stack: dsp/info, the proxy with the
official kfp.Client, namespace pinning and the shared-space policy."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlsplit

import kfp
import pytest
from server_helpers import HELLO
from tornado.httpclient import HTTPClientError

pytest_plugins = ("pytest_jupyter.jupyter_server", "fixtures_cluster", "fixtures_server")


@pytest.fixture
def jp_server_config(dsp_server_config):
    return dsp_server_config


API = ("dsp", "api", "project", "apis", "v2beta1")
SHARED = ("dsp", "api", "shared", "apis", "v2beta1")


def assert_no_token(token: str, *responses) -> None:
    for r in responses:
        assert token not in r.body.decode("utf-8", "replace")
        for _, value in r.headers.get_all():
            assert token not in value


async def test_info_describes_the_connection(proxied_stack, jp_fetch):
    r = await jp_fetch("dsp", "info")
    info = json.loads(r.body)
    assert info["mode"] == "configured"
    assert info["namespace"] == "default"
    assert info["healthy"] is True and info["error"] is None
    assert info["policy"] == "read-only"
    project = info["spaces"]["project"]
    assert project["endpoint_host"] == urlsplit(proxied_stack.url).netloc
    assert project["multi_user"] is True and project["writable"] is True
    shared = info["spaces"]["shared"]
    assert shared["namespace"] == "" and shared["writable"] is False
    assert_no_token(proxied_stack.token, r)


async def test_kfp_client_through_the_proxy(
    proxied_stack, jp_fetch, server_url, jupyter_token, unique_name
):
    private_name, shared_name = unique_name("private"), unique_name("shared")

    def flow() -> dict:
        direct = kfp.Client(host=proxied_stack.url, existing_token=proxied_stack.token)
        shared = direct.upload_pipeline(str(HELLO), pipeline_name=shared_name)  # no namespace
        project = kfp.Client(host=f"{server_url}dsp/api/project", existing_token=jupyter_token)
        private = project.upload_pipeline(str(HELLO), pipeline_name=private_name)
        version = project.upload_pipeline_version(
            str(HELLO), pipeline_version_name=unique_name("v2"), pipeline_id=private.pipeline_id
        )
        experiment = project.create_experiment(unique_name("exp"))
        catalog = kfp.Client(host=f"{server_url}dsp/api/shared", existing_token=jupyter_token)
        return {
            "private": private,
            "shared": shared,
            "version": version,
            "experiment": experiment,
            "project_list": project.list_pipelines(page_size=100).pipelines or [],
            "shared_list": catalog.list_pipelines(page_size=100).pipelines or [],
            "versions": project.list_pipeline_versions(private.pipeline_id).pipeline_versions,
            "experiments": project.list_experiments(page_size=100).experiments or [],
            "direct_private": direct.get_pipeline(private.pipeline_id),
        }

    out = await asyncio.to_thread(flow)
    # uploaded through the project space: pinned to the project namespace
    assert out["direct_private"].namespace == "default"
    assert out["experiment"].namespace == "default"
    project_names = {p.display_name for p in out["project_list"]}
    shared_names = {p.display_name for p in out["shared_list"]}
    assert private_name in project_names and shared_name not in project_names
    assert shared_name in shared_names and private_name not in shared_names
    assert all(not p.namespace for p in out["shared_list"])
    assert len(out["versions"]) == 2
    assert out["experiment"].experiment_id in {e.experiment_id for e in out["experiments"]}


async def test_other_namespace_is_403(proxied_stack, jp_fetch):
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch(*API, "pipelines", params={"namespace": "someone-else"})
    assert err.value.code == 403
    body = json.loads(err.value.response.body)
    assert body["code"] == 7 and "someone-else" in body["message"]

    with pytest.raises(HTTPClientError) as err:
        await jp_fetch(
            *API,
            "experiments",
            method="POST",
            body=json.dumps({"display_name": "x", "namespace": "someone-else"}),
        )
    assert err.value.code == 403

    with pytest.raises(HTTPClientError) as err:
        await jp_fetch(*SHARED, "pipelines", params={"namespace": "default"})
    assert err.value.code == 403

    # the project namespace itself, or none, is fine
    ok = await jp_fetch(*API, "pipelines", params={"namespace": "default"})
    assert ok.code == 200


async def test_shared_writes_refused_under_read_only(
    proxied_stack, jp_fetch, server_url, jupyter_token, unique_name
):
    shared_name = unique_name("shared")

    def setup() -> str:
        direct = kfp.Client(host=proxied_stack.url, existing_token=proxied_stack.token)
        return direct.upload_pipeline(str(HELLO), pipeline_name=shared_name).pipeline_id

    shared_id = await asyncio.to_thread(setup)
    # reading shared works
    r = await jp_fetch(*SHARED, "pipelines", shared_id)
    assert json.loads(r.body)["display_name"] == shared_name
    # writing it does not: not via the shared space...
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch(*SHARED, "pipelines", shared_id, method="DELETE")
    assert err.value.code == 403
    assert "read-only" in json.loads(err.value.response.body)["message"]

    def upload_shared() -> Exception | None:
        catalog = kfp.Client(host=f"{server_url}dsp/api/shared", existing_token=jupyter_token)
        try:
            catalog.upload_pipeline(str(HELLO), pipeline_name=unique_name("nope"))
        except Exception as exc:  # kfp_server_api.ApiException
            return exc
        return None

    exc = await asyncio.to_thread(upload_shared)
    assert exc is not None and getattr(exc, "status", None) == 403
    # ...nor through the project space
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch(*API, "pipelines", shared_id, method="DELETE")
    assert err.value.code == 403
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch(
            *API,
            "pipelines",
            shared_id,
            "versions",
            method="POST",
            body=json.dumps({"display_name": "v"}),
        )
    assert err.value.code == 403
    still = await jp_fetch(*SHARED, "pipelines", shared_id)
    assert still.code == 200


async def test_upstream_down_is_502_json(proxied_stack, jp_fetch):
    ok = await jp_fetch(*API, "healthz")
    assert ok.code == 200
    proxied_stack.stop()
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch(*API, "pipelines")
    assert err.value.code == 502
    body = json.loads(err.value.response.body)
    assert body["code"] == 14 and urlsplit(proxied_stack.url).netloc in body["message"]
    info = json.loads((await jp_fetch("dsp", "info")).body)
    assert info["healthy"] is False and info["error"]


@pytest.fixture
def stale_token_stack(proxied_stack):
    proxied_stack.token_file.write_text("not-a-valid-token")
    return proxied_stack


async def test_rotated_token_file_is_used_and_401_explained(stale_token_stack, jp_fetch):
    handle = stale_token_stack
    token_file = handle.token_file
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch(*API, "pipelines")
    assert err.value.code == 401
    message = json.loads(err.value.response.body)["message"]
    assert str(token_file) in message
    assert "not-a-valid-token" not in err.value.response.body.decode()
    # rotate the file (atomically, as kubelet does): the next request uses the new token
    fresh = token_file.with_name("token.new")
    fresh.write_text(handle.token)
    fresh.replace(token_file)
    r = await jp_fetch(*API, "pipelines")
    assert r.code == 200
    assert_no_token(handle.token, r)


async def test_upload_to_a_stopped_stack_is_502_in_upload_shape(proxied_stack, jp_fetch):
    proxied_stack.stop()
    body = (
        b'--b\r\nContent-Disposition: form-data; name="uploadfile"; filename="p.yaml"\r\n'
        b"\r\nx\r\n--b--\r\n"
    )
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch(
            *API,
            "pipelines",
            "upload",
            method="POST",
            body=body,
            headers={"Content-Type": "multipart/form-data; boundary=b"},
        )
    assert err.value.code == 502
    assert "error_message" in json.loads(err.value.response.body)


async def test_restarted_stack_is_reached_again(
    proxied_stack, jp_fetch, stack_factory, jp_serverapp
):
    """Pooled connections to a stack that restarted are stale: the proxy retries once."""
    r = await jp_fetch(*API, "pipelines")
    assert r.code == 200
    port = int(urlsplit(proxied_stack.url).port)
    proxied_stack.stop()
    again = stack_factory(data_dir=proxied_stack.data_dir, port=port)
    assert again.url == proxied_stack.url
    for _ in range(3):
        r = await jp_fetch(*API, "pipelines")
        assert r.code == 200
    # one connection before the restart, one after (the stale one was retried, once)
    assert jp_serverapp.web_app.settings["jupyter_dsp_state"].pool.opened == 2


@pytest.fixture
def read_write_stack(proxied_stack, dsp_config):
    dsp_config["shared_policy"] = "read-write"
    return proxied_stack


async def test_shared_writes_under_read_write(
    read_write_stack, jp_fetch, server_url, jupyter_token, unique_name
):
    name = unique_name("team")

    def upload_shared() -> str:
        catalog = kfp.Client(host=f"{server_url}dsp/api/shared", existing_token=jupyter_token)
        return catalog.upload_pipeline(str(HELLO), pipeline_name=name).pipeline_id

    pipeline_id = await asyncio.to_thread(upload_shared)
    r = await jp_fetch(*SHARED, "pipelines", pipeline_id)
    assert not json.loads(r.body).get("namespace")  # shared: no namespace
    # the project's own listing does not show it...
    r = await jp_fetch(*API, "pipelines")
    assert name not in {p["display_name"] for p in json.loads(r.body).get("pipelines", [])}
    # ...and a private pipeline cannot be changed through the shared space
    body = {"display_name": unique_name("private")}
    r = await jp_fetch(*API, "pipelines", method="POST", body=json.dumps(body))
    private_id = json.loads(r.body)["pipeline_id"]
    assert json.loads(r.body)["namespace"] == "default"
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch(*SHARED, "pipelines", private_id, method="DELETE")
    assert err.value.code == 403
    # nor even read there: the shared space shows shared pipelines only
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch(*SHARED, "pipelines", private_id)
    assert err.value.code == 404
    assert json.loads(err.value.response.body)["code"] == 5
    # the shared one can be deleted under read-write
    r = await jp_fetch(
        *SHARED, "pipelines", pipeline_id, method="DELETE", params={"cascade": "true"}
    )
    assert r.code == 200
