"""Object-storage credentials the way a cluster's own pipeline steps find them.

On Kubeflow, KFP's launcher reads ``minio://`` artifacts (the default pipeline root
``minio://mlpipeline/v2/artifacts``) from MinIO at ``minio-service.kubeflow:9000`` without TLS,
with the keys ``accesskey`` and ``secretkey`` of the Secret ``mlpipeline-minio-artifact`` in the
run's (profile) namespace. A workbench in that namespace has neither at hand: when its
``AWS_*`` variables and the Open Data Hub runtime file name no credentials, the Secret is read
through the Kubernetes API with the workbench's service account, and a refusal says which
Secret, which namespace and which permission is missing.

Data Science Pipelines (Open Data Hub) needs none of this: the notebook controller mounts the
pipeline server's storage in the runtime file, which :class:`ObjectStore` reads first.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from jupyter_dsp.connection.model import Connection
from jupyter_dsp.connection.settings import DSPSettings
from jupyter_dsp.results.objectstore import ObjectStore, ObjectStoreError, StorageProfile

KUBEFLOW_SECRET = "mlpipeline-minio-artifact"
ACCESS_KEY = "accesskey"
SECRET_KEY = "secretkey"
KUBEFLOW_REGION = "minio"  # what KFP's launcher passes for MinIO


def kubeflow_minio_profile(conn: Connection, settings: DSPSettings) -> StorageProfile:
    """MinIO's endpoint and credentials from the profile namespace's Secret, as KFP's launcher
    reads them. Raises ObjectStoreError naming the Secret and the missing grant."""
    from jupyter_dsp.connection.kube import KubeClient, KubeError, kube_api_url

    namespace = conn.namespace
    secret = f"Secret {namespace}/{KUBEFLOW_SECRET}"
    url = kube_api_url(settings.kube_api_url, os.environ)
    if not url:
        raise ObjectStoreError(
            f"no object-storage credentials: the {secret} that Kubeflow's steps use cannot be "
            "read (no Kubernetes API: KUBERNETES_SERVICE_HOST is unset); set "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
            status=503,
        )
    kube = KubeClient(url, settings.sa_dir, timeout=settings.connect_timeout)
    try:
        data = kube.secret_data(namespace, KUBEFLOW_SECRET)
    except KubeError as exc:
        if exc.status in (401, 403):
            raise ObjectStoreError(
                f"object-storage credentials: reading {secret} was refused ({exc.status}: "
                f"{exc}). Grant the workbench's service account the verb 'get' on resource "
                f"'secrets' (resourceNames: [{KUBEFLOW_SECRET}]) in namespace {namespace}, or "
                "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                status=403,
            ) from None
        if exc.status == 404:
            raise ObjectStoreError(
                f"object-storage credentials: {secret} does not exist (Kubeflow's profile "
                "controller creates it in each profile namespace); set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY",
                status=503,
            ) from None
        raise ObjectStoreError(
            f"object-storage credentials: reading {secret}: {exc}", status=502
        ) from None
    finally:
        kube.close()
    missing = [k for k in (ACCESS_KEY, SECRET_KEY) if not data.get(k)]
    if missing:
        raise ObjectStoreError(
            f"object-storage credentials: {secret} has no {' or '.join(missing)} key",
            status=503,
        )
    endpoint = settings.kubeflow_minio_endpoint.rstrip("/")
    if "://" not in endpoint:
        endpoint = f"http://{endpoint}"
    return StorageProfile(
        f"{endpoint} (Kubeflow's MinIO, credentials from {secret})",
        {
            "endpoint_url": endpoint,
            "aws_access_key_id": data[ACCESS_KEY].decode("utf-8", "replace").strip(),
            "aws_secret_access_key": data[SECRET_KEY].decode("utf-8", "replace").strip(),
            "region_name": KUBEFLOW_REGION,
        },
    )


def object_store(
    conn: Connection, settings: DSPSettings, environ: Mapping[str, str] | None = None
) -> ObjectStore:
    """The object store of ``conn``'s artifacts: the workbench's own configuration, with
    Kubeflow's Secret as the fallback on a Kubeflow connection."""

    def kubeflow() -> StorageProfile:
        return kubeflow_minio_profile(conn, settings)

    fallback = kubeflow if conn.mode == "cluster-kubeflow" else None
    return ObjectStore(environ, runtimes_dir=settings.runtimes_dir, fallback=fallback)
