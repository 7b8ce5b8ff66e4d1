"""Kubeflow: artifact bytes read with the credentials KFP's own launcher uses, the profile
namespace's ``mlpipeline-minio-artifact`` Secret, when the workbench names none (no ``AWS_*``,
no runtime file); a missing grant names the Secret, the namespace and the verb.

The object store is moto's S3 server in its own process with IAM authentication on: only the
access key the Secret holds reads the bucket, so a read that succeeds used that Secret. The
Secret is served by the fake Kubernetes API, the run's outputs by a real ML Metadata store.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import boto3  # type: ignore[import-untyped]
import pytest
import requests  # type: ignore[import-untyped]

from jupyter_dsp.results.objectstore import ObjectStore, ObjectStoreError
from jupyter_dsp.results.storage_credentials import KUBEFLOW_SECRET

pytest_plugins = ("pytest_jupyter.jupyter_server", "fixtures_cluster", "fixtures_server")

BUCKET = "mlpipeline"


@dataclass
class AuthS3:
    url: str
    key_id: str
    secret: str

    def client(self) -> object:
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id=self.key_id,
            aws_secret_access_key=self.secret,
            region_name="us-east-1",
        )


@pytest.fixture(scope="module")
def auth_s3() -> Iterator[AuthS3]:
    """moto's server (a process of its own: its IAM switch is process-wide) with one IAM user
    allowed s3:*, a bucket, then authentication on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{url}/moto-api/", timeout=2)
                break
            except requests.RequestException:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("moto's server did not start") from None
                time.sleep(0.2)
        anyone = {"aws_access_key_id": "x", "aws_secret_access_key": "y"}
        iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1", **anyone)
        iam.create_user(UserName="pipeline-runner")
        iam.put_user_policy(
            UserName="pipeline-runner",
            PolicyName="artifacts",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
                }
            ),
        )
        key = iam.create_access_key(UserName="pipeline-runner")["AccessKey"]
        store = AuthS3(url, key["AccessKeyId"], key["SecretAccessKey"])
        store.client().create_bucket(Bucket=BUCKET)  # type: ignore[attr-defined]
        requests.post(f"{url}/moto-api/reset-auth", data=b"0", timeout=5).raise_for_status()
        yield store
    finally:
        proc.terminate()
        proc.wait(10)


def test_moto_refuses_other_keys(auth_s3):
    """The premise of the tests below: only the Secret's key reads the bucket."""
    wrong = AuthS3(auth_s3.url, "AKIDNOTINIAM", "nope")
    with pytest.raises(Exception, match="InvalidAccessKeyId|403"):
        wrong.client().list_objects_v2(Bucket=BUCKET)  # type: ignore[attr-defined]
    auth_s3.client().list_objects_v2(Bucket=BUCKET)  # type: ignore[attr-defined]


@pytest.fixture
def jp_server_config(dsp_server_config):
    return dsp_server_config


@pytest.fixture
def kubeflow_no_aws(request, sa_dir, fake_kube, stack_factory, dsp_config, clean_dsp_env, auth_s3):
    """Kubeflow (no DSPA), MLMD over gRPC, no AWS_* variables and no runtime file: the object
    store is Kubeflow's MinIO (here: moto with IAM on), its keys in the profile's Secret."""
    cluster = request.getfixturevalue("mlmd_cluster")
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_S3_ENDPOINT",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
    ):
        clean_dsp_env.delenv(name, raising=False)
    clean_dsp_env.setenv("AWS_CONFIG_FILE", "/nonexistent")
    clean_dsp_env.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    handle = stack_factory(default_namespace="team-a", tokens={"sa": ({"team-a": "edit"}, "view")})
    sa_dir.rotate(handle.tokens["sa"])
    dsp_config.update(
        kubeflow_endpoint=handle.url,
        mlmd_endpoint=cluster.grpc_target,
        kubeflow_minio_endpoint=auth_s3.url,
    )
    fake_kube.secrets[("team-a", KUBEFLOW_SECRET)] = {
        "accesskey": auth_s3.key_id.encode(),
        "secretkey": auth_s3.secret.encode(),
    }
    cluster.kfp_url = handle.url
    return cluster


async def _run_with_outputs(server_url: str, jupyter_token: str, cluster, auth_s3) -> dict:
    import kfp  # type: ignore[import-untyped]
    from mlmd_kfp_run import KfpRunRecorder, record_results_demo
    from server_helpers import HELLO

    def run() -> str:
        client = kfp.Client(host=f"{server_url}dsp/api/project", existing_token=jupyter_token)
        return client.create_run_from_pipeline_package(str(HELLO), arguments={}).run_id

    run_id = await asyncio.to_thread(run)
    recorder = KfpRunRecorder(
        cluster.store, auth_s3.client(), BUCKET, "results-demo", run_id, "team-a"
    )
    return {"run_id": run_id, **record_results_demo(recorder)}


async def test_artifacts_read_with_the_profile_secret(
    kubeflow_no_aws, auth_s3, fake_kube, jp_fetch, server_url, jupyter_token, clean_dsp_env
):
    from mlmd_kfp_run import DATASET

    info = json.loads((await jp_fetch("dsp", "info")).body)
    assert info["mode"] == "cluster-kubeflow"
    ids = await _run_with_outputs(server_url, jupyter_token, kubeflow_no_aws, auth_s3)
    run_id = ids["run_id"]
    doc = json.loads((await jp_fetch("dsp", "results", run_id)).body)
    assert doc["unavailable"] is None, doc["unavailable"]
    [make] = [t for t in doc["tasks"] if t["name"] == "make-data"]
    assert make["outputs"]["artifacts"]["dataset"][0]["size"] == len(DATASET)
    dataset_id = str(ids["artifacts"]["dataset"])
    served = await jp_fetch("dsp", "artifacts", run_id, dataset_id)
    assert served.body == DATASET
    assert auth_s3.secret not in json.dumps(doc)
    secret_reads = [p for m, p, _ in fake_kube.requests if p.endswith(f"/{KUBEFLOW_SECRET}")]
    assert secret_reads and all(p.startswith("/api/v1/namespaces/team-a/") for p in secret_reads)

    # the kernel finds the same credentials the same way
    from jupyter_dsp.client import connect

    clean_dsp_env.setenv("JUPYTER_DSP_MLMD_ENDPOINT", kubeflow_no_aws.grpc_target)
    clean_dsp_env.setenv("JUPYTER_DSP_KUBEFLOW_MINIO_ENDPOINT", auth_s3.url)
    clean_dsp_env.setenv("JUPYTER_DSP_KUBEFLOW_ENDPOINT", kubeflow_no_aws.kfp_url)
    client = await asyncio.to_thread(connect)
    assert await asyncio.to_thread(client.read_artifact, run_id, dataset_id) == DATASET


async def test_a_missing_grant_names_the_secret_and_the_verb(
    kubeflow_no_aws, auth_s3, fake_kube, jp_fetch, server_url, jupyter_token
):
    ids = await _run_with_outputs(server_url, jupyter_token, kubeflow_no_aws, auth_s3)
    fake_kube.denied_secrets.add("team-a")
    r = await jp_fetch(
        "dsp", "artifacts", ids["run_id"], str(ids["artifacts"]["dataset"]), raise_error=False
    )
    assert r.code == 403
    message = json.loads(r.body)["message"]
    assert f"Secret team-a/{KUBEFLOW_SECRET}" in message
    assert "'get'" in message and "'secrets'" in message and "namespace team-a" in message
    doc = json.loads((await jp_fetch("dsp", "results", ids["run_id"])).body)
    assert f"Secret team-a/{KUBEFLOW_SECRET}" in doc["unavailable"]
    assert doc["tasks"], "the document itself still comes from ML Metadata"


def test_a_wrong_secret_is_refused_by_the_store_and_says_where_from(
    sa_dir, fake_kube, clean_dsp_env, auth_s3
):
    """Credentials come from the Secret (a wrong key there is what the store refuses), and
    a Secret without its keys, or none at all, is named."""
    from jupyter_dsp.connection.model import Connection, Space
    from jupyter_dsp.connection.settings import DSPSettings
    from jupyter_dsp.results.storage_credentials import object_store

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_S3_ENDPOINT"):
        clean_dsp_env.delenv(name, raising=False)
    settings = DSPSettings(
        kubeflow_minio_endpoint=auth_s3.url, kube_api_url=fake_kube.url, sa_dir=str(sa_dir.root)
    )
    space = Space("project", "http://127.0.0.1:1", "team-a", True, True)
    conn = Connection("cluster-kubeflow", "team-a", "nb", "read-write", space, None)
    auth_s3.client().put_object(Bucket=BUCKET, Key="a/b", Body=b"hello")  # type: ignore[attr-defined]

    fake_kube.secrets[("team-a", KUBEFLOW_SECRET)] = {
        "accesskey": auth_s3.key_id.encode(),
        "secretkey": b"not-the-secret",
    }
    with pytest.raises(ObjectStoreError) as refused:
        object_store(conn, settings, {}).head(f"minio://{BUCKET}/a/b")
    assert refused.value.status == 403
    assert f"credentials from Secret team-a/{KUBEFLOW_SECRET}" in str(refused.value)

    fake_kube.secrets[("team-a", KUBEFLOW_SECRET)] = {"accesskey": b"k"}
    with pytest.raises(ObjectStoreError, match="has no secretkey key"):
        object_store(conn, settings, {}).head(f"minio://{BUCKET}/a/b")
    del fake_kube.secrets[("team-a", KUBEFLOW_SECRET)]
    with pytest.raises(ObjectStoreError, match="does not exist"):
        object_store(conn, settings, {}).head(f"minio://{BUCKET}/a/b")

    # AWS_* variables, when given, come first: the Secret is not read
    before = len(fake_kube.requests)
    env = {
        "AWS_ACCESS_KEY_ID": auth_s3.key_id,
        "AWS_SECRET_ACCESS_KEY": auth_s3.secret,
        "AWS_S3_ENDPOINT": auth_s3.url,
    }
    assert object_store(conn, settings, env).head(f"minio://{BUCKET}/a/b").size == 5
    assert len(fake_kube.requests) == before
    # on Data Science Pipelines no Secret is read either (the runtime file carries storage)
    dspa = Connection("cluster-dspa", "team-a", "nb", "read-write", space, None)
    assert isinstance(object_store(dspa, settings, {}), ObjectStore)
    assert len(fake_kube.requests) == before
