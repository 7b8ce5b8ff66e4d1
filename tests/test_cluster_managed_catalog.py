"""Issue 14: a catalog stack configured (shared_endpoint) on a single-user DSP project stack.
The shared space then shows both: the catalog's pipelines and the project stack's
platform-managed ones (dsp/api/managed), each marked with where it lives; managed ones are
read-only; both fork into the project. Real stacks on loopback, real Jupyter server, real kernel
client."""

from __future__ import annotations

import json

import pytest
from stack_http import upload
from tornado.httpclient import HTTPClientError

from jupyter_dsp.client import DSPClient, connect
from jupyter_dsp.connection import DSPSettings

pytest_plugins = ("pytest_jupyter.jupyter_server", "fixtures_cluster", "fixtures_server")

OPERATOR_TAGS = json.dumps({"managed": "true", "rhoai-version": "3.5.0"})


@pytest.fixture
def jp_server_config(dsp_server_config):
    return dsp_server_config


@pytest.fixture
def stacks(stack_factory, dsp_config, tmp_path):
    """The project's single-user stack (one managed, one own pipeline) and a catalog stack."""
    project = stack_factory(single_user=True)
    catalog = stack_factory(single_user=True)
    (tmp_path / "token").write_text(project.token)
    (tmp_path / "catalog-token").write_text(catalog.token)
    dsp_config.update(
        endpoint=project.url,
        token_file=str(tmp_path / "token"),
        namespace="team-a",
        shared_endpoint=catalog.url,
        shared_token_file=str(tmp_path / "catalog-token"),
        shared_policy="read-only",
    )
    project.managed = upload(project, "platform-pipeline", tags=OPERATOR_TAGS).json()
    project.own = upload(project, "my-own").json()
    catalog.item = upload(catalog, "catalog-pipeline").json()
    return project, catalog


def names(body: bytes) -> set[str]:
    return {p["display_name"] for p in json.loads(body).get("pipelines", [])}


async def test_proxy_serves_catalog_and_managed_spaces(stacks, jp_fetch):
    project, _ = stacks
    info = json.loads((await jp_fetch("dsp", "info")).body)
    assert info["spaces"]["managed"]["managed"] == "only"
    assert info["spaces"]["managed"]["writable"] is False
    api = ("apis", "v2beta1", "pipelines")
    assert names((await jp_fetch("dsp", "api", "shared", *api)).body) == {"catalog-pipeline"}
    assert names((await jp_fetch("dsp", "api", "managed", *api)).body) == {"platform-pipeline"}
    assert names((await jp_fetch("dsp", "api", "project", *api)).body) == {"my-own"}
    # read-only: no delete of a managed pipeline; the project's own is not read through it
    managed_id = project.managed["pipeline_id"]
    with pytest.raises(HTTPClientError) as exc:
        await jp_fetch("dsp", "api", "managed", *api, managed_id, method="DELETE")
    assert exc.value.code == 403
    with pytest.raises(HTTPClientError) as exc:
        await jp_fetch("dsp", "api", "managed", *api, project.own["pipeline_id"])
    assert exc.value.code == 404
    got = await jp_fetch("dsp", "api", "managed", *api, managed_id, "versions")
    versions = json.loads(got.body)["pipeline_versions"]
    # the version diff reads the managed space too, under the same rules
    vid = versions[0]["pipeline_version_id"]
    params = {"pipeline_id": managed_id, "v1": vid, "v2": vid, "space": "managed"}
    diff = await jp_fetch("dsp", "diff", params=params)
    assert diff.code == 200
    with pytest.raises(HTTPClientError) as exc:
        own = {**params, "pipeline_id": project.own["pipeline_id"]}
        await jp_fetch("dsp", "diff", params=own)
    assert exc.value.code == 404


def test_kernel_shared_lists_both_marked_and_forks_each(stacks, clean_dsp_env, dsp_config):
    settings = DSPSettings.load(config_paths=[])
    for key, value in dsp_config.items():
        setattr(settings, key, value)
    client: DSPClient = connect(settings=settings)
    shared = client.list_pipelines("shared")
    where = {p.name: (p.space, p.where, p.managed) for p in shared}
    assert where == {
        "catalog-pipeline": ("shared", "catalog", False),
        "platform-pipeline": ("managed", "managed", True),
    }
    text = shared._text()
    assert "[shared, catalog] catalog-pipeline" in text
    assert "[shared, managed] platform-pipeline" in text
    assert "shared (managed)" in shared._repr_html_()
    assert [p.name for p in client.list_pipelines("project")] == ["my-own"]
    # the widgets' Shared tab: both, marked; managed not deletable; both forkable
    from jupyter_dsp.widgets import PipelineBrowser

    browser = PipelineBrowser(client, user_ns={}, poll_interval=0.2)
    managed_row = browser.row("shared", "platform-pipeline")
    catalog_row = browser.row("shared", "catalog-pipeline")
    assert ">managed<" in managed_row.label.value and ">catalog<" in catalog_row.label.value
    assert managed_row.delete_button.disabled and managed_row.fork_button is not None
    assert catalog_row.fork_button is not None
    browser.fork(managed_row)
    client.fork("catalog-pipeline", as_name="catalog-copy")
    project = sorted(p.name for p in client.list_pipelines("project"))
    assert project == ["catalog-copy", "my-own", "platform-pipeline-fork"]


def test_magic_list_shared_shows_both(stacks, clean_dsp_env, dsp_config):
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    for key, value in dsp_config.items():
        clean_dsp_env.setenv(f"JUPYTER_DSP_{key.upper()}", str(value))
    config = Config()
    config.HistoryManager.enabled = False
    InteractiveShell.clear_instance()
    sh = InteractiveShell.instance(config=config)
    try:
        sh.run_line_magic("load_ext", "jupyter_dsp")
        result = sh.run_line_magic("dsp", "list --shared")
    finally:
        InteractiveShell.clear_instance()
    text = result._text()
    assert "[shared, catalog] catalog-pipeline" in text
    assert "[shared, managed] platform-pipeline" in text
    assert "my-own" not in text
