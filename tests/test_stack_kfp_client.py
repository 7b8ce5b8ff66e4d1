"""The official kfp.Client (kfp 2.17) against a real embedded stack on loopback."""

from __future__ import annotations

import kfp
import pytest
from reference import VALID

HELLO = VALID / "hello_world.yaml"
TWO_STEP = VALID / "two_step_pipeline.yaml"


@pytest.fixture
def client(stack) -> kfp.Client:
    return kfp.Client(host=stack.url, existing_token=stack.token)


def test_healthz_says_multi_user(client):
    assert client.get_kfp_healthz().multi_user is True


def test_upload_shared_and_list_without_namespace(client, unique_name):
    name = unique_name("shared")
    uploaded = client.upload_pipeline(str(HELLO), pipeline_name=name, description="d")
    assert uploaded.pipeline_id
    assert uploaded.display_name == name
    assert not uploaded.namespace
    listed = client.list_pipelines(page_size=200)
    assert uploaded.pipeline_id in [p.pipeline_id for p in listed.pipelines]
    got = client.get_pipeline(uploaded.pipeline_id)
    assert got.display_name == name and got.description == "d"


def test_upload_namespaced_is_listed_only_in_its_namespace(client, unique_name):
    name = unique_name("private")
    uploaded = client.upload_pipeline(str(HELLO), pipeline_name=name, namespace="default")
    assert uploaded.namespace == "default"
    in_ns = client.list_pipelines(namespace="default", page_size=200).pipelines or []
    shared = client.list_pipelines(page_size=200).pipelines or []
    assert uploaded.pipeline_id in [p.pipeline_id for p in in_ns]
    assert uploaded.pipeline_id not in [p.pipeline_id for p in shared]


def test_upload_version_and_get_spec(client, unique_name):
    name = unique_name("versioned")
    pipeline = client.upload_pipeline(str(HELLO), pipeline_name=name)
    version = client.upload_pipeline_version(
        str(TWO_STEP), pipeline_version_name="v2", pipeline_id=pipeline.pipeline_id
    )
    assert version.pipeline_id == pipeline.pipeline_id
    assert version.display_name == "v2"
    fetched = client.get_pipeline_version(pipeline.pipeline_id, version.pipeline_version_id)
    assert fetched.pipeline_spec["pipelineInfo"]["name"] == "simple-two-step-pipeline"
    versions = client.list_pipeline_versions(pipeline.pipeline_id)
    assert versions.total_size == 2


def test_create_and_list_experiments(client, unique_name):
    name = unique_name("exp")
    experiment = client.create_experiment(name, namespace="default")
    assert experiment.experiment_id
    again = client.get_experiment(experiment_name=name, namespace="default")
    assert again.experiment_id == experiment.experiment_id
    listed = client.list_experiments(namespace="default", page_size=200).experiments
    assert experiment.experiment_id in [e.experiment_id for e in listed]
