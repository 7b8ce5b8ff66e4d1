"""Fetching a run's results in the kernel: the results document and artifact bytes.

Three functions (``client`` is a :class:`jupyter_dsp.client.DSPClient`; ``run`` a run id or a
:class:`~jupyter_dsp.client.models.Run`):

- :func:`results_document` -> the results document (CONTRACTS.md), a plain dict;
- :func:`read_artifact` -> an artifact's bytes (the first ``max_bytes`` when given: one
  ranged read);
- :func:`download_artifact` -> streams an artifact to a file (never whole in memory),
  ``progress(done_bytes, total_bytes_or_None)`` after each chunk.

``DSPClient.results(run)``, ``DSPClient.read_artifact(run, artifact_id, max_bytes)`` and
``DSPClient.download_artifact(run, artifact_id, path)`` call these.

Where they read: a jupyter-dsp stack (embedded, or configured) through its artifact API
(``/apis/v2beta1/tasks``, ``/artifacts/{id}/content``) with the project space's token; on a
cluster (``cluster-dspa`` / ``cluster-kubeflow``, or a configured KFP that has no such API),
ML Metadata and object storage through the same readers as the server's ``dsp/results`` and
``dsp/artifacts`` (:func:`jupyter_dsp.results.cluster.cluster_results`,
:func:`jupyter_dsp.results.cluster_content.open_cluster_artifact`): one document, the same
bytes (a directory artifact as a tar). The run is checked to be in the project
namespace first (multi-user stacks). Failures are :class:`DSPError` with a hint.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jupyter_dsp.client.errors import DSPError, NotFoundError, scrub_chunks, scrub_json
from jupyter_dsp.results.document import (
    CONTENT_PATH,
    MAX_TASK_PAGES,
    TASKS_PAGE_SIZE,
    TASKS_PATH,
    document_from_stack,
    find_artifact,
)

API = "/apis/v2beta1"
CHUNK = 256 * 1024
DOWNLOAD_STEP = 256 * 1024 * 1024  # bytes per ranged request of a download
CLUSTER_MODES = ("cluster-dspa", "cluster-kubeflow")
Progress = Callable[[int, int | None], None]


def _run_id(run: Any) -> str:
    rid = getattr(run, "id", None) or getattr(run, "run_id", None) or run
    text = str(rid or "").strip()
    if not text:
        raise DSPError("Give a run id (`%dsp runs` lists them).")
    return text


def _call(
    client: Any,
    action: str,
    path: str,
    query: list[tuple[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    """A GET on the project's stack; the raw urllib3 response (release it when done)."""
    accept = {"Accept": "application/json", **(headers or {})}
    return client.project_get(action, API + path, query=query, headers=accept)


def _json(client: Any, action: str, path: str, query: list[tuple[str, str]] | None = None) -> Any:
    import json

    response = _call(client, action, path, query)
    try:
        return json.loads(response.data)
    except ValueError:
        raise DSPError(f"{action}: the stack answered something that is not JSON.") from None
    finally:
        response.release_conn()


def _check_project(client: Any, run: dict[str, Any]) -> None:
    """A run of another namespace is refused even when the token could read it."""
    if client.single_user or not client.namespace:
        return
    experiment_id = str(run.get("experiment_id") or "")
    if not experiment_id:
        return
    experiment = _json(client, "Checking the run's namespace", f"/experiments/{experiment_id}")
    owner = str(experiment.get("namespace") or "")
    if owner and owner != client.namespace:
        raise DSPError(
            f"Run {run.get('run_id')} is in namespace {owner!r}, not in the project"
            f" namespace {client.namespace!r}.",
            hint="Results are read from the project namespace only.",
        )


def _run(client: Any, run_id: str) -> dict[str, Any]:
    run = _json(client, f"Getting run {run_id}", f"/runs/{run_id}")
    _check_project(client, run)
    return run


def _from_cluster(client: Any) -> bool:
    return getattr(client, "mode", "") in CLUSTER_MODES


def _stack_tasks(client: Any, run_id: str) -> list[dict[str, Any]] | None:
    """All tasks of the run from the stack's tasks API (None: the stack has no such API)."""
    tasks: list[dict[str, Any]] = []
    token = ""
    for _ in range(MAX_TASK_PAGES):
        query = [("run_id", run_id), ("page_size", str(TASKS_PAGE_SIZE))]
        if token:
            query.append(("page_token", token))
        try:
            page = _json(client, f"Reading the results of run {run_id}", TASKS_PATH, query)
        except DSPError as exc:
            if getattr(exc, "status", None) in (404, 501) and not tasks:
                return None
            raise
        tasks.extend(page.get("tasks") or [])
        token = page.get("next_page_token") or ""
        if not token:
            return tasks
    raise DSPError(f"Reading the results of run {run_id}: too many pages of tasks.")


def _cluster(client: Any) -> tuple[Any, Any]:
    """(connection, settings) for the ML Metadata readers."""
    from jupyter_dsp.connection.settings import DSPSettings

    conn = getattr(client, "connection", None)
    if conn is None:
        raise DSPError(
            "Results on a cluster need a client made by jupyter_dsp.connect().",
            hint="Use `client = jupyter_dsp.connect()` (or `%dsp connect`).",
        )
    settings = getattr(client, "settings", None) or DSPSettings.load()
    return conn, settings


def _cluster_document(client: Any, run_id: str, run: dict[str, Any]) -> dict[str, Any]:
    """The same document the server's ``dsp/results`` gives on a cluster (one reader)."""
    from jupyter_dsp.results.cluster import cluster_results

    conn, settings = _cluster(client)
    return cluster_results(conn, settings, {**run, "run_id": run_id})


def results_document(client: Any, run: Any) -> dict[str, Any]:
    """The results document of ``run`` (a run id or a Run); no token in any of its strings
    (what ``%dsp outputs`` and the widgets display comes from here)."""
    run_id = _run_id(run)
    data = _run(client, run_id)
    if not _from_cluster(client):
        tasks = _stack_tasks(client, run_id)
        if tasks is not None:
            return scrub_json(document_from_stack(data, tasks))
    return scrub_json(_cluster_document(client, run_id, data))


class _Stream:
    """An open read of an artifact: ``size`` (whole), ``chunks()``, ``close()``."""

    def __init__(self, size: int | None, chunks: Any, close: Callable[[], None]) -> None:
        self.size = size
        self.chunks = scrub_chunks(chunks)  # no token in an artifact's bytes (same length)
        self.close = close


def _open(
    client: Any,
    run_id: str,
    artifact_id: str,
    max_bytes: int | None,
    start: int = 0,
    checked: bool = False,
) -> _Stream:
    """Bytes ``start`` .. ``start + max_bytes`` (to the end when None); ``checked``: the run
    and the artifact were checked by an earlier piece of the same read."""
    if not checked:
        _run(client, run_id)
    if max_bytes is not None and max_bytes <= 0:
        return _Stream(None, iter(()), lambda: None)
    if _from_cluster(client):
        return _open_cluster(client, run_id, artifact_id, max_bytes)
    if not checked:
        links = _json(
            client,
            f"Finding artifact {artifact_id}",
            "/artifact_tasks",
            [("run_ids", run_id), ("artifact_ids", artifact_id), ("page_size", "1")],
        )
        if not links.get("artifact_tasks"):
            raise NotFoundError(f"Run {run_id} has no artifact {artifact_id}.", status=404)
    headers = {"Accept": "*/*"}
    if max_bytes is not None:
        headers["Range"] = f"bytes={start}-{start + max_bytes - 1}"
    elif start:
        headers["Range"] = f"bytes={start}-"
    try:
        response = _call(
            client,
            f"Reading artifact {artifact_id}",
            CONTENT_PATH.format(artifact_id=artifact_id),
            headers=headers,
        )
    except DSPError as exc:
        if exc.status == 416 and max_bytes is not None:  # an empty artifact
            return _Stream(0, iter(()), lambda: None)
        raise
    total = response.headers.get("Content-Range", "").rpartition("/")[2]
    length = response.headers.get("Content-Length", "")
    size = int(total) if total.isdigit() else (int(length) if length.isdigit() else None)

    def close() -> None:
        response.release_conn()

    return _Stream(size, response.stream(CHUNK), close)


def _open_cluster(client: Any, run_id: str, artifact_id: str, max_bytes: int | None) -> _Stream:
    """The bytes as the server's ``dsp/artifacts`` reads them on a cluster (one object, or a
    directory as a tar)."""
    from jupyter_dsp.results.cluster_content import open_cluster_artifact
    from jupyter_dsp.results.mlmd.errors import MLMDError
    from jupyter_dsp.results.objectstore import ObjectStoreError

    conn, settings = _cluster(client)
    where = f"Reading artifact {artifact_id} of run {run_id}"
    try:
        art = open_cluster_artifact(conn, settings, run_id, artifact_id)
        length = art.size if max_bytes is None else min(max_bytes, art.size)
        read = art.read(0, length)
    except (MLMDError, ObjectStoreError, ValueError) as exc:
        status = getattr(exc, "status", None)
        error = NotFoundError if status == 404 else DSPError
        raise error(f"{where}: {exc}", status=status) from None

    def chunks() -> Any:
        try:
            yield from read.chunks
        except ObjectStoreError as exc:  # a file of a directory went away mid-tar
            raise DSPError(f"{where}: {exc}") from None

    return _Stream(art.size, chunks(), read.close)


def read_artifact(client: Any, run: Any, artifact_id: str, max_bytes: int | None = None) -> bytes:
    """The artifact's bytes (at most ``max_bytes``: one ranged read of the start)."""
    stream = _open(client, _run_id(run), artifact_id, max_bytes)
    parts: list[bytes] = []
    try:
        for chunk in stream.chunks:
            parts.append(chunk)
    finally:
        stream.close()
    data = b"".join(parts)
    return data if max_bytes is None else data[:max_bytes]


def download_artifact(
    client: Any,
    run: Any,
    artifact_id: str,
    path: str | os.PathLike[str],
    progress: Progress | None = None,
) -> Path:
    """Stream the artifact into ``path`` (written to ``path.part`` first, then renamed)."""
    target = Path(path).expanduser()
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    run_id = _run_id(run)
    # on a stack, pieces of DOWNLOAD_STEP bytes (each within the stack's per-read cap)
    step = None if _from_cluster(client) else DOWNLOAD_STEP
    done = 0
    try:
        with open(partial, "wb") as f:
            stream = _open(client, run_id, artifact_id, step)
            while True:
                try:
                    for chunk in stream.chunks:
                        f.write(chunk)
                        done += len(chunk)
                        if progress is not None:
                            progress(done, stream.size)
                finally:
                    stream.close()
                if step is None or stream.size is None or done >= stream.size:
                    break
                piece = min(step, stream.size - done)
                size = stream.size
                stream = _open(client, run_id, artifact_id, piece, start=done, checked=True)
                stream.size = stream.size or size
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(target)
    return target


def artifact_of(doc: dict[str, Any], artifact_id: str) -> dict[str, Any]:
    """The artifact ``artifact_id`` of a results document (NotFoundError if absent)."""
    found = find_artifact(doc, artifact_id)
    if found is None:
        raise NotFoundError(f"Run {doc.get('run_id')} has no artifact {artifact_id}.", status=404)
    return found
