"""Issue 14: links out. Each run, pipeline and version read in the kernel carries a link to its
page in the cluster's UI: the ODH dashboard (from the Elyra runtime file's public_api_endpoint)
on Open Data Hub, the KFP UI on Kubeflow (or a configured base); dsp/info says which UI."""

from __future__ import annotations

import json

import pytest
from server_helpers import REFERENCE
from stack_http import upload

from jupyter_dsp.client import connect
from jupyter_dsp.connection import DSPSettings

pytest_plugins = ("pytest_jupyter.jupyter_server", "fixtures_cluster", "fixtures_server")

ADD_NUMBERS = REFERENCE / "kfp-compiled-pipelines" / "valid" / "critical" / "add_numbers.yaml"
DASHBOARD = "https://rh-ai.apps.example.com"


@pytest.fixture
def jp_server_config(dsp_server_config):
    return dsp_server_config


@pytest.fixture
def odh(stack_factory, dsp_config, tmp_path, clean_dsp_env):
    handle = stack_factory(single_user=True)
    token_file = tmp_path / "token"
    token_file.write_text(handle.token)
    runtimes = tmp_path / "runtimes"
    runtimes.mkdir()
    (runtimes / "pipeline-server.json").write_text(
        json.dumps(
            {
                "display_name": "Pipeline server",
                "metadata": {
                    "api_endpoint": handle.url,
                    "public_api_endpoint": f"{DASHBOARD}/experiments/team-a/",
                },
                "schema_name": "kfp",
            }
        )
    )
    dsp_config.update(
        endpoint=handle.url,
        token_file=str(token_file),
        namespace="team-a",
        runtimes_dir=str(runtimes),
    )
    return handle


def client_for(dsp_config):
    settings = DSPSettings.load(config_paths=[])
    for key, value in dsp_config.items():
        setattr(settings, key, value)
    return connect(settings=settings)


def test_runs_pipelines_and_versions_link_to_the_odh_dashboard(odh, dsp_config):
    client = client_for(dsp_config)
    version = client.upload(str(ADD_NUMBERS), name="linked")
    pipeline = client.find_pipeline("linked", "project")
    base = f"{DASHBOARD}/develop-train/pipelines/definitions/team-a"
    assert pipeline.ui_url == base
    assert pipeline.versions[0].ui_url == f"{base}/{pipeline.id}/{version.id}/view"
    assert f'href="{base}/{pipeline.id}/{version.id}/view"' in pipeline.versions[0]._repr_html_()
    run = client.run("linked", {"a": 1, "b": 2})
    got = client.get_run(run.id)
    assert got.ui_url == f"{DASHBOARD}/experiments/team-a/{got.experiment_id}/runs/{run.id}"
    assert "open in the cluster UI" in got._repr_html_()


def test_kubeflow_links_to_the_kfp_ui_and_config_wins(stack, dsp_config, clean_dsp_env, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(stack.token)
    dsp_config.update(
        endpoint=stack.url,
        token_file=str(token_file),
        namespace="default",
        ui_url="https://kubeflow.example.com/pipeline",
        ui_kind="kfp",
    )
    client = client_for(dsp_config)
    name = f"kf-link-{tmp_path.name[-6:]}"
    upload(stack, name, namespace="default")
    pipeline = client.find_pipeline(name, "project")
    assert (
        pipeline.ui_url
        == f"https://kubeflow.example.com/pipeline/#/pipelines/details/{pipeline.id}"
    )
    version = pipeline.versions[0]
    assert version.ui_url.endswith(f"/#/pipelines/details/{pipeline.id}/version/{version.id}")


async def test_dsp_info_names_the_ui(odh, jp_fetch):
    info = json.loads((await jp_fetch("dsp", "info")).body)
    templates = info["ui"].pop("templates")
    assert info["ui"] == {"kind": "odh", "base": DASHBOARD, "namespace": "team-a"}
    # the panel fills these in (same rule as the kernel's ui_url, made by the server)
    assert templates == {
        "run": f"{DASHBOARD}/experiments/team-a/EXPERIMENT_ID_/runs/RUN_ID_",
        "run_no_experiment": f"{DASHBOARD}/experiments/team-a",
        "pipeline": f"{DASHBOARD}/develop-train/pipelines/definitions/team-a",
        "version": f"{DASHBOARD}/develop-train/pipelines/definitions/team-a"
        "/PIPELINE_ID_/VERSION_ID_/view",
    }
    assert info["spaces"]["shared"]["managed"] == "only"
