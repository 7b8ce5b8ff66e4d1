"""Open Data Hub layout: a single-user stack per project namespace and a separate shared
catalog stack (``shared_endpoint``), both behind the proxy."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlsplit

import kfp
import pytest
from server_helpers import HELLO

pytest_plugins = ("pytest_jupyter.jupyter_server", "fixtures_cluster", "fixtures_server")


@pytest.fixture
def jp_server_config(dsp_server_config):
    return dsp_server_config


def names(client: kfp.Client) -> set[str]:
    return {p.display_name for p in client.list_pipelines(page_size=100).pipelines or []}


@pytest.fixture
def odh(dsp_config, stack_factory, tmp_path):
    project = stack_factory(single_user=True, default_namespace="team-a")
    catalog = stack_factory(single_user=True, default_namespace="catalog")
    (tmp_path / "project-token").write_text(project.token)
    (tmp_path / "catalog-token").write_text(catalog.token)
    dsp_config.update(
        endpoint=project.url,
        token_file=str(tmp_path / "project-token"),
        namespace="team-a",
        shared_endpoint=catalog.url,
        shared_token_file=str(tmp_path / "catalog-token"),
        shared_policy="read-write",
    )
    return project, catalog


async def test_catalog_stack_is_the_shared_space(
    odh, jp_fetch, server_url, jupyter_token, unique_name
):
    project, catalog = odh
    info = json.loads((await jp_fetch("dsp", "info")).body)
    assert info["spaces"]["project"]["multi_user"] is False
    assert info["spaces"]["shared"]["endpoint_host"] == urlsplit(catalog.url).netloc
    assert info["spaces"]["shared"]["healthy"] is True
    assert info["spaces"]["shared"]["writable"] is True

    mine, ours = unique_name("mine"), unique_name("ours")

    def flow() -> dict:
        via_project = kfp.Client(host=f"{server_url}dsp/api/project", existing_token=jupyter_token)
        via_shared = kfp.Client(host=f"{server_url}dsp/api/shared", existing_token=jupyter_token)
        via_project.upload_pipeline(str(HELLO), pipeline_name=mine)
        via_shared.upload_pipeline(str(HELLO), pipeline_name=ours)
        direct_catalog = kfp.Client(host=catalog.url, existing_token=catalog.token)
        direct_project = kfp.Client(host=project.url, existing_token=project.token)
        return {
            "project": names(via_project),
            "shared": names(via_shared),
            "catalog": names(direct_catalog),
            "project_stack": names(direct_project),
        }

    out = await asyncio.to_thread(flow)
    assert mine in out["project"] and ours not in out["project"]
    assert ours in out["shared"] and mine not in out["shared"]
    assert ours in out["catalog"] and mine not in out["catalog"]
    assert mine in out["project_stack"]
