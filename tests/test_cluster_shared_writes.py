"""Issue 14: KFP 2.17's rules for shared writes. A write refused by the API server's
SubjectAccessReview names the missing grant (verb, resource, namespace) and the RoleBinding to
ask for, through the proxy and in the kernel; uploads send the namespace KFP expects (the
project's, or none for shared); name lookups never cross between project and shared."""

from __future__ import annotations

import json

import pytest
from server_helpers import HELLO
from stack_http import upload
from tornado.httpclient import HTTPClientError

from jupyter_dsp.client import DSPClient, DSPError

pytest_plugins = ("pytest_jupyter.jupyter_server", "fixtures_cluster", "fixtures_server")

API = ("dsp", "api", "project", "apis", "v2beta1")
WHO = "system:serviceaccount:team-a:notebook"
SAR_403 = {
    "error_message": (
        "Failed to authorize the request: PermissionDenied: User '" + WHO + "' is not "
        "authorized with reason:  (request: &ResourceAttributes{Namespace:kubeflow,Verb:create,"
        "Group:pipelines.kubeflow.org,Version:v1beta1,Resource:pipelines,Subresource:,Name:,}): "
        "Unauthorized access"
    ),
    "error_details": "Unauthorized access",
}


@pytest.fixture
def jp_server_config(dsp_server_config):
    return dsp_server_config


@pytest.fixture
def refusing(recording_upstream, dsp_config, tmp_path):
    token_file = tmp_path / "tok"
    token_file.write_text("stack-token")
    dsp_config.update(
        endpoint=recording_upstream.url,
        token_file=str(token_file),
        namespace="team-a",
        multi_user=True,
        shared_policy="read-write",
    )
    recording_upstream.status = 403
    recording_upstream.body = json.dumps(SAR_403).encode()
    return recording_upstream


def assert_names_the_grant(message: str) -> None:
    assert "verb 'create' on pipelines.kubeflow.org/pipelines in namespace kubeflow" in message
    assert "RoleBinding" in message
    assert "kubectl -n kubeflow create rolebinding" in message
    assert "--serviceaccount=team-a:notebook" in message


async def test_refused_shared_upload_names_the_grant_and_the_rolebinding(refusing, jp_fetch):
    body, boundary = multipart(HELLO.read_bytes())
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch(
            "dsp",
            "api",
            "shared",
            "apis",
            "v2beta1",
            "pipelines",
            "upload",
            method="POST",
            body=body,
            headers=headers,
            params={"name": "shared-one"},
        )
    assert err.value.code == 403
    assert_names_the_grant(json.loads(err.value.response.body)["error_message"])
    # the shared upload carried no namespace; a project upload carries the project's
    shared_sent = [s["uri"] for s in refusing.seen if "upload" in s["uri"]]
    assert shared_sent and "namespace=" not in shared_sent[-1]
    with pytest.raises(HTTPClientError):
        await jp_fetch(
            *API,
            "pipelines",
            "upload",
            method="POST",
            body=body,
            headers=headers,
            params={"name": "mine"},
        )
    assert "namespace=team-a" in [s["uri"] for s in refusing.seen if "upload" in s["uri"]][-1]


def test_kernel_error_names_the_grant(refusing):
    client = DSPClient.from_endpoint(refusing.url, "stack-token", namespace="team-a")
    with pytest.raises(DSPError) as err:
        client.upload(str(HELLO), name="x", shared=True)
    assert_names_the_grant(str(err.value))


def test_name_lookups_never_cross_project_and_shared(stack_factory):
    handle = stack_factory(tokens={"nb": ({"team-a": "edit"}, "edit")})
    token = handle.tokens["nb"]
    mine = upload(handle, "same-name", token, namespace="team-a").json()
    shared = upload(handle, "same-name", token).json()
    client = DSPClient.from_endpoint(handle.url, token, namespace="team-a")
    assert client.find_pipeline("same-name", "project").id == mine["pipeline_id"]
    assert client.find_pipeline("same-name", "shared").id == shared["pipeline_id"]
    only_shared = upload(handle, "only-shared", token).json()
    with pytest.raises(DSPError):
        client.find_pipeline("only-shared", "project")
    assert client.find_pipeline("only-shared").id == only_shared["pipeline_id"]


def multipart(data: bytes) -> tuple[bytes, str]:
    boundary = "dspboundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="uploadfile"; '
            f'filename="hello.yaml"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, boundary
