"""Issue 14: on a single-user Data Science Pipelines stack the platform's managed pipelines
(tagged as the operator tags them: KFP tags managed=true, rhoai-version=...) are the shared
space's: listed there (marked managed, read-only, forkable into the project) and no longer among
the project's own. Real single-user stack (it stores and filters KFP tags), real Jupyter server,
real kernel client."""

from __future__ import annotations

import json

import pytest
from stack_http import upload
from tornado.httpclient import HTTPClientError

from jupyter_dsp.client import DSPClient, DSPError, connect
from jupyter_dsp.connection import DSPSettings

pytest_plugins = ("pytest_jupyter.jupyter_server", "fixtures_cluster", "fixtures_server")

OPERATOR_TAGS = json.dumps({"managed": "true", "rhoai-version": "3.5.0"})


@pytest.fixture
def jp_server_config(dsp_server_config):
    return dsp_server_config


@pytest.fixture
def dsp_stack(stack_factory, dsp_config, tmp_path):
    """A single-user stack as on Data Science Pipelines, with one managed and one own pipeline."""
    handle = stack_factory(single_user=True)
    token_file = tmp_path / "token"
    token_file.write_text(handle.token)
    dsp_config.update(endpoint=handle.url, token_file=str(token_file), namespace="team-a")
    handle.token_file = token_file
    # what the operator's init container does: upload with the managed tags
    handle.managed = upload(handle, "platform-pipeline", tags=OPERATOR_TAGS).json()
    handle.own = upload(handle, "my-own").json()
    return handle


def names(body: bytes) -> set[str]:
    return {p["display_name"] for p in json.loads(body).get("pipelines", [])}


async def test_managed_pipelines_are_shared_not_the_projects(dsp_stack, jp_fetch):
    project = await jp_fetch("dsp", "api", "project", "apis", "v2beta1", "pipelines")
    shared = await jp_fetch("dsp", "api", "shared", "apis", "v2beta1", "pipelines")
    assert names(project.body) == {"my-own"}
    assert names(shared.body) == {"platform-pipeline"}
    listed = json.loads(shared.body)["pipelines"][0]
    assert listed["tags"]["managed"] == "true"
    info = json.loads((await jp_fetch("dsp", "info")).body)
    assert info["spaces"]["shared"]["writable"] is False
    # the shared space reads managed pipelines only, and writes nothing
    own_id = dsp_stack.own["pipeline_id"]
    for path in (("pipelines", own_id), ("pipelines", own_id, "versions")):
        with pytest.raises(HTTPClientError) as err:
            await jp_fetch("dsp", "api", "shared", "apis", "v2beta1", *path)
        assert err.value.code == 404, path
    managed_id = dsp_stack.managed["pipeline_id"]
    got = await jp_fetch("dsp", "api", "shared", "apis", "v2beta1", "pipelines", managed_id)
    assert json.loads(got.body)["display_name"] == "platform-pipeline"
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch(
            "dsp",
            "api",
            "shared",
            "apis",
            "v2beta1",
            "pipelines",
            managed_id,
            method="DELETE",
        )
    assert err.value.code == 403
    # a caller's own filter is kept, the managed predicate added
    flt = json.dumps(
        {"predicates": [{"key": "name", "operation": "EQUALS", "string_value": "nope"}]}
    )
    none = await jp_fetch(
        "dsp", "api", "shared", "apis", "v2beta1", "pipelines", params={"filter": flt}
    )
    assert names(none.body) == set()


def test_kernel_lists_managed_as_shared_and_forks_them(dsp_stack, clean_dsp_env, dsp_config):
    settings = DSPSettings.load(config_paths=[])
    for key, value in dsp_config.items():
        setattr(settings, key, value)
    client: DSPClient = connect(settings=settings)
    shared = client.list_pipelines("shared")
    assert [p.name for p in shared] == ["platform-pipeline"]
    assert shared[0].managed and "managed" in shared._text()
    assert [p.name for p in client.list_pipelines("project")] == ["my-own"]
    with pytest.raises(DSPError):
        client.upload(str(dsp_stack.data_dir), shared=True)
    # the widgets' Shared tab: marked managed, forkable, not deletable
    from jupyter_dsp.widgets import PipelineBrowser

    browser = PipelineBrowser(client, user_ns={}, poll_interval=0.2)
    row = browser.row("shared", "platform-pipeline")
    assert "managed" in row.label.value and row.fork_button is not None
    assert row.delete_button.disabled
    assert browser.row("project", "platform-pipeline") is None
    forked = client.fork("platform-pipeline", as_name="my-copy")
    assert forked is not None
    project = client.list_pipelines("project")
    assert sorted(p.name for p in project) == ["my-copy", "my-own"]
    assert not any(p.managed for p in project)  # the copy is the project's own
