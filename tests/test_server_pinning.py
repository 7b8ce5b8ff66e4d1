"""Issue 10: every run and every read by id through the project space is pinned to the project
namespace, with an identity that also has rights in a second namespace (a contributor
elsewhere), through the real Jupyter server and a real multi-user stack on loopback."""

from __future__ import annotations

import asyncio
import json

import kfp
import pytest
import yaml
from server_helpers import REFERENCE
from stack_http import call, upload
from tornado.httpclient import HTTPClientError

pytest_plugins = ("pytest_jupyter.jupyter_server", "fixtures_cluster", "fixtures_server")

ADD_NUMBERS = REFERENCE / "kfp-compiled-pipelines" / "valid" / "critical" / "add_numbers.yaml"
API = ("dsp", "api", "project", "apis", "v2beta1")
SHARED_API = ("dsp", "api", "shared", "apis", "v2beta1")


@pytest.fixture
def jp_server_config(dsp_server_config):
    return dsp_server_config


@pytest.fixture
def two_namespaces(proxied_stack, dsp_config):
    """Project namespace team-a; the identity may also edit ``default`` (the stack's default
    namespace) and ``other``, and edit shared pipelines."""
    dsp_config["namespace"] = "team-a"
    broad = proxied_stack.create_token(
        "nb", {"team-a": "edit", "default": "edit", "other": "edit"}, "edit"
    )
    proxied_stack.token_file.write_text(broad)
    proxied_stack.broad = broad
    return proxied_stack


async def refused(jp_fetch, *path, method="GET", body=None, params=None) -> tuple[int, str]:
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch(*path, method=method, body=body, params=params)
    return err.value.code, json.loads(err.value.response.body)["message"]


async def test_run_without_experiment_lands_in_the_projects_default_experiment(
    two_namespaces, jp_fetch
):
    spec = yaml.safe_load(ADD_NUMBERS.read_text())
    body = {
        "display_name": "no-exp",
        "pipeline_spec": spec,
        "runtime_config": {"parameters": {"a": 1, "b": 2}},
    }
    created = json.loads((await jp_fetch(*API, "runs", method="POST", body=json.dumps(body))).body)
    experiment = call(
        two_namespaces, "GET", f"/experiments/{created['experiment_id']}", two_namespaces.broad
    ).json()
    assert experiment["namespace"] == "team-a"
    assert experiment["display_name"] == "Default"
    # a second one reuses it (created when missing, only once)
    again = json.loads((await jp_fetch(*API, "runs", method="POST", body=json.dumps(body))).body)
    assert again["experiment_id"] == created["experiment_id"]
    # and the run is listed in the project
    listed = json.loads((await jp_fetch(*API, "runs")).body)
    assert created["run_id"] in {r["run_id"] for r in listed.get("runs", [])}


async def test_listing_runs_of_another_namespaces_experiment_is_403(
    two_namespaces, jp_fetch, unique_name
):
    theirs = kfp.Client(host=two_namespaces.url, existing_token=two_namespaces.broad)
    exp = await asyncio.to_thread(theirs.create_experiment, unique_name("x"), namespace="other")
    await asyncio.to_thread(
        theirs.create_run_from_pipeline_package,
        str(ADD_NUMBERS),
        arguments={"a": 1, "b": 2},
        experiment_id=exp.experiment_id,
        namespace="other",
    )
    code, message = await refused(
        jp_fetch, *API, "runs", params={"experiment_id": exp.experiment_id}
    )
    assert code == 403 and "not in this project's namespace" in message
    # the project's own experiment lists fine
    mine = await asyncio.to_thread(theirs.create_experiment, unique_name("m"), namespace="team-a")
    listed = await jp_fetch(*API, "runs", params={"experiment_id": mine.experiment_id})
    assert listed.code == 200


async def test_reads_by_id_of_another_namespaces_pipeline_are_403(two_namespaces, jp_fetch):
    token = two_namespaces.broad
    theirs = upload(two_namespaces, "their-pipeline", token, namespace="other").json()
    mine = upload(two_namespaces, "my-pipeline", token, namespace="team-a").json()
    shared = upload(two_namespaces, "everyones", token).json()
    version = call(two_namespaces, "GET", f"/pipelines/{theirs['pipeline_id']}/versions", token)
    version_id = version.json()["pipeline_versions"][0]["pipeline_version_id"]
    pid = theirs["pipeline_id"]
    for path in (
        ("pipelines", pid),
        ("pipelines", pid, "versions"),
        ("pipelines", pid, "versions", version_id),
    ):
        code, message = await refused(jp_fetch, *API, *path)
        assert code == 403 and "not in this project's namespace" in message, path
    # the project's own and shared pipelines still read by id
    for ok in (mine["pipeline_id"], shared["pipeline_id"]):
        assert (await jp_fetch(*API, "pipelines", ok)).code == 200
        assert (await jp_fetch(*API, "pipelines", ok, "versions")).code == 200


async def test_shared_space_serves_only_shared_pipelines_versions(two_namespaces, jp_fetch):
    token = two_namespaces.broad
    mine = upload(two_namespaces, "mine-ns", token, namespace="team-a").json()
    shared = upload(two_namespaces, "shared-one", token).json()
    versions = call(two_namespaces, "GET", f"/pipelines/{mine['pipeline_id']}/versions", token)
    version_id = versions.json()["pipeline_versions"][0]["pipeline_version_id"]
    for path in (
        ("pipelines", mine["pipeline_id"], "versions"),
        ("pipelines", mine["pipeline_id"], "versions", version_id),
    ):
        code, _ = await refused(jp_fetch, *SHARED_API, *path)
        assert code == 404, path
    assert (await jp_fetch(*SHARED_API, "pipelines", shared["pipeline_id"], "versions")).code == 200


async def test_dsp_logs_of_another_namespaces_run_is_403(two_namespaces, jp_fetch, unique_name):
    theirs = kfp.Client(host=two_namespaces.url, existing_token=two_namespaces.broad)

    def other_run() -> tuple[str, str]:
        exp = theirs.create_experiment(unique_name("theirs"), namespace="other")
        run = theirs.create_run_from_pipeline_package(
            str(ADD_NUMBERS),
            arguments={"a": 1, "b": 2},
            experiment_id=exp.experiment_id,
            namespace="other",
        )
        done = theirs.wait_for_run_completion(run.run_id, timeout=240)
        return run.run_id, done.run_details.task_details[0].task_id

    run_id, task_id = await asyncio.to_thread(other_run)
    code, message = await refused(jp_fetch, "dsp", "logs", run_id, task_id)
    assert code == 403 and "not in this project's namespace" in message
