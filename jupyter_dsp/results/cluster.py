"""The cluster side of run results, for the server extension (``dsp/results``, ``dsp/artifacts``):
one call that never raises for the document, one that opens an artifact's bytes.

Both take ``run``: the run as the KFP API has just returned it to this identity (``run_id``,
``state``, ``pipeline_spec``). On Kubeflow the ML Metadata store is shared by every namespace and
has no authorization of its own, so only such a run is read, and its context's ``namespace``
must be the project's.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from typing import Any

from jupyter_dsp.connection.model import Connection
from jupyter_dsp.connection.settings import DSPSettings
from jupyter_dsp.results.mlmd.endpoint import MLMDEndpoint, discover, ui_url
from jupyter_dsp.results.mlmd.errors import MLMDError
from jupyter_dsp.results.mlmd.reader import MLMDReader
from jupyter_dsp.results.objectstore import ObjectRead, ObjectStore, ObjectStoreError
from jupyter_dsp.results.storage_credentials import object_store

_STATUS_TTL = 300.0
_status_cache: dict[tuple[str, str], tuple[float, dict | None]] = {}
_status_lock = threading.Lock()


def empty_document(run_id: str, state: str, link: str | None) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "state": state,
        "source": "mlmd",
        "ui_url": link,
        "unavailable": None,
        "pipeline_outputs": {"parameters": {}, "artifacts": {}},
        "tasks": [],
    }


def endpoint_for(conn: Connection, settings: DSPSettings) -> MLMDEndpoint | None:
    """The store's endpoint; on Data Science Pipelines the DSPA's status is read once per five
    minutes when the Kubernetes API answers (else the Service name pattern is used)."""
    status = None
    if conn.mode == "cluster-dspa" and not settings.mlmd_endpoint and conn.dspa_name:
        status = _dspa_status(settings, conn.namespace, conn.dspa_name)
    return discover(conn, settings, status)


def _dspa_status(settings: DSPSettings, namespace: str, name: str) -> dict | None:
    key = (namespace, name)
    with _status_lock:
        hit = _status_cache.get(key)
        if hit and time.monotonic() - hit[0] < _STATUS_TTL:
            return hit[1]
    from jupyter_dsp.connection.kube import KubeClient, KubeError, kube_api_url

    status = None
    url = kube_api_url(settings.kube_api_url, os.environ)
    if url:
        kube = KubeClient(url, settings.sa_dir, timeout=settings.probe_timeout)
        try:
            status = kube.get_dspa(namespace, name).get("status") or None
        except KubeError:
            status = None
        finally:
            kube.close()
    with _status_lock:
        _status_cache[key] = (time.monotonic(), status)
    return status


def cluster_results(
    conn: Connection,
    settings: DSPSettings,
    run: Mapping[str, Any],
    *,
    environ: Mapping[str, str] | None = None,
    sizes: bool = True,
    timeout: float | None = None,
) -> dict[str, Any]:
    """The results document of ``run`` read from ML Metadata; a piece that cannot be read is
    named in ``unavailable`` (with ``ui_url`` to the run's page), never raised."""
    run_id = str(run.get("run_id") or "")
    state = str(run.get("state") or "")
    experiment = str(run.get("experiment_id") or "") or None
    doc = empty_document(run_id, state, ui_url(conn, settings, run_id, experiment))
    try:
        endpoint = endpoint_for(conn, settings)
    except ValueError as exc:
        doc["unavailable"] = f"ML Metadata: {exc}"
        return doc
    if endpoint is None:
        doc["unavailable"] = (
            f"ML Metadata: no store is known for this stack ({conn.project.endpoint}); set "
            "DSPSettings.mlmd_endpoint (JUPYTER_DSP_MLMD_ENDPOINT)"
        )
        return doc
    spec = run.get("pipeline_spec")
    try:
        with MLMDReader(endpoint, timeout or settings.connect_timeout) as reader:
            found = reader.read_run(
                run_id, conn.namespace, spec if isinstance(spec, dict) else None
            )
    except MLMDError as exc:
        doc["unavailable"] = str(exc)
        return doc
    found["state"] = state or found["state"]
    found["ui_url"] = doc["ui_url"]
    if sizes:
        store = object_store(conn, settings, environ)
        found["unavailable"] = fill_sizes(found, environ, settings.runtimes_dir, store=store)
    return found


def _all_artifacts(doc: dict[str, Any]) -> list[dict[str, Any]]:
    arts: list[dict[str, Any]] = []
    for lists in doc["pipeline_outputs"]["artifacts"].values():
        arts.extend(lists)
    for task in doc["tasks"]:
        for side in ("inputs", "outputs"):
            for lists in task[side]["artifacts"].values():
                arts.extend(lists)
    return arts


def fill_sizes(
    doc: dict[str, Any],
    environ: Mapping[str, str] | None = None,
    runtimes_dir: str | None = None,
    *,
    store: ObjectStore | None = None,
) -> str | None:
    """Sets each artifact's ``size`` from a HEAD; the reason when object storage cannot be
    read (then sizes stay None)."""
    arts = [a for a in _all_artifacts(doc) if a["uri"].startswith(("s3://", "minio://"))]
    if not arts:
        return None
    try:
        reader = store or ObjectStore(environ, runtimes_dir=runtimes_dir)
        reader.head(arts[0]["uri"])  # fail fast, once, when the store is unreachable
    except ObjectStoreError as exc:
        if exc.status != 404:
            return f"artifact sizes: {exc}"
    except Exception as exc:  # boto3 missing or misconfigured
        return f"artifact sizes: object storage client: {type(exc).__name__}: {exc}"
    found = reader.sizes([a["uri"] for a in arts])
    for art in arts:
        art["size"] = found.get(art["uri"])
    return None


def open_artifact(
    conn: Connection,
    settings: DSPSettings,
    run: Mapping[str, Any],
    artifact_id: str,
    start: int | None = None,
    end: int | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any], ObjectRead]:
    """The artifact (checked to belong to ``run``) and an open read of its bytes.
    Raises MLMDError or ObjectStoreError, each with a ``status`` and a message to show."""
    endpoint = endpoint_for(conn, settings)
    if endpoint is None:
        raise MLMDError(
            "ML Metadata: no store is known for this stack; set DSPSettings.mlmd_endpoint",
            status=501,
        )
    run_id = str(run.get("run_id") or "")
    with MLMDReader(endpoint, settings.connect_timeout) as reader:
        art = reader.artifact(run_id, artifact_id, conn.namespace)
    read = object_store(conn, settings, environ).read(art["uri"], start, end)
    art["size"] = read.size
    return art, read
