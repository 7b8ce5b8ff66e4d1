"""Task logs: from the stack's logs endpoint (embedded), or in a cluster from the task's pod
through the Kubernetes API (pods/log, with the service account)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from tornado.httputil import HTTPHeaders

from jupyter_dsp.connection.kube import KubeError
from jupyter_dsp.connection.model import Connection
from jupyter_dsp.connection.resolve import in_cluster
from jupyter_dsp.server.errors import ProxyError, stack_json, upstream_message
from jupyter_dsp.server.state import DSPState
from jupyter_dsp.server.upstream_response import BufferSink, ResponseSink, UpstreamError

TERMINAL = {"SUCCEEDED", "FAILED", "SKIPPED", "CANCELED"}
MAX_LOG = 16 * 1024 * 1024
ARCHIVE_CHUNK = 1024 * 1024  # bytes of an archived log served per read (offsets as the stack)


@dataclass
class LogSlice:
    status: int
    body: bytes
    content_type: str
    next_offset: str | None
    complete: str | None
    size: str | None = None  # the whole log's size in bytes, when known


def uses_pod_logs(state: DSPState, conn: Connection) -> bool:
    if conn.mode in ("cluster-dspa", "cluster-kubeflow"):
        return True
    return conn.mode == "configured" and in_cluster(state.settings)


async def read_log(
    state: DSPState, conn: Connection, run_id: str, task_id: str, offset: int
) -> LogSlice:
    if uses_pod_logs(state, conn):
        return await _pod_log(state, conn, run_id, task_id, offset)
    return await _stack_log(state, conn, run_id, task_id, offset)


async def _fetch(state: DSPState, conn: Connection, path: str) -> BufferSink:
    sink = BufferSink(limit=MAX_LOG)
    try:
        await state.get_from(conn.project, path, sink)
    except UpstreamError as exc:
        raise ProxyError(exc.status, str(exc)) from None
    return sink


async def _stack_log(
    state: DSPState, conn: Connection, run_id: str, task_id: str, offset: int
) -> LogSlice:
    sink = await _fetch(
        state, conn, f"/apis/v2beta1/runs/{run_id}/tasks/{task_id}/logs?offset={offset}"
    )
    return LogSlice(
        sink.code,
        sink.body,
        sink.headers.get("Content-Type", "text/plain; charset=utf-8"),
        sink.headers.get("X-Log-Next-Offset"),
        sink.headers.get("X-Log-Complete"),
        sink.headers.get("X-Log-Size"),
    )


async def _pod_log(
    state: DSPState, conn: Connection, run_id: str, task_id: str, offset: int
) -> LogSlice:
    sink = await _fetch(state, conn, f"/apis/v2beta1/runs/{run_id}")
    if sink.code != 200:
        return LogSlice(sink.code, sink.body, "application/json", None, None)
    run = stack_json(sink.body, "a run")
    task = _find_task(run, task_id)
    if task is None:
        raise ProxyError(404, f"run {run_id} has no task {task_id}")
    pod = _pod_name(task)
    state_name = str(task.get("state") or "")
    complete = state_name in TERMINAL or str(run.get("state") or "") in TERMINAL
    if pod:
        try:
            return await _from_pod(state, conn, pod, offset, complete)
        except KubeError as exc:
            if exc.status == 404:
                why = f"pod {pod} is gone (collected by Kubernetes: {exc})"
            elif exc.status == 403:
                why = (
                    f"reading the log of pod {pod} was refused for {conn.identity} ({exc}; "
                    f"missing grant: verb 'get' on pods/log in namespace {conn.namespace})"
                )
            else:
                why = f"the Kubernetes API could not read pod {pod}: {exc}"
        except Exception as exc:  # noqa: BLE001 - no Kubernetes API: say so, try the archive
            why = f"the Kubernetes API is not reachable: {exc}"
    else:
        why = f"task {task_id} has no pod (yet)"
    return await _archived_log(state, conn, run_id, pod or task_id, offset, why)


async def _from_pod(
    state: DSPState, conn: Connection, pod: str, offset: int, complete: bool
) -> LogSlice:
    loop = asyncio.get_running_loop()
    kube = state.kube()
    data: bytes = await loop.run_in_executor(
        None, kube.pod_log, conn.namespace, pod, "main", offset + MAX_LOG
    )
    body = data[offset:] if offset < len(data) else b""
    return LogSlice(
        200,
        body,
        "text/plain; charset=utf-8",
        str(max(offset, len(data))),
        "true" if complete else "false",
    )


class _WindowSink(ResponseSink):
    """Keeps only bytes [offset, offset + limit) of a streamed answer and counts the rest, so an
    archived log of any size costs at most ``limit`` bytes of memory."""

    def __init__(self, offset: int, limit: int) -> None:
        self.offset, self.limit = offset, limit
        self.code, self.seen = 0, 0
        self.kept = bytearray()
        self.error = bytearray()

    async def start(self, code: int, reason: str, headers: HTTPHeaders) -> None:
        self.code = code

    async def data(self, chunk: bytes) -> None:
        if self.code != 200:
            self.error += chunk[: max(0, 65536 - len(self.error))]
            return
        lo, hi = self.seen, self.seen + len(chunk)
        self.seen = hi
        want_lo, want_hi = self.offset, self.offset + self.limit
        if hi > want_lo and lo < want_hi:
            self.kept += chunk[max(0, want_lo - lo) : min(len(chunk), want_hi - lo)]


async def _archived_log(
    state: DSPState, conn: Connection, run_id: str, node_id: str, offset: int, why: str
) -> LogSlice:
    """The API server's archived log (KFP ``/apis/v1alpha1/runs/{run}/nodes/{node}/log``)."""
    sink = _WindowSink(offset, ARCHIVE_CHUNK)
    path = f"/apis/v1alpha1/runs/{run_id}/nodes/{node_id}/log"
    try:
        await state.get_from(conn.project, path, sink)
    except UpstreamError as exc:
        raise ProxyError(exc.status, f"no log: {why}; the API server: {exc}") from None
    if sink.code == 200:
        end = offset + len(sink.kept)
        return LogSlice(
            200,
            bytes(sink.kept),
            "text/plain; charset=utf-8",
            str(max(offset, end)),
            "true" if end >= sink.seen else "false",
            str(sink.seen),
        )
    said = upstream_message(bytes(sink.error)) or f"HTTP {sink.code}"
    raise ProxyError(
        404 if sink.code in (404, 500) else sink.code,
        f"no log for node {node_id} of run {run_id}: {why}; and the API server has no archived "
        f"log ({said}). KFP keeps step logs after their pods only when log archiving is on "
        "(the API server's log archive settings; on Data Science Pipelines, the DSPA's "
        "object storage).",
    )


def _find_task(run: dict[str, Any], task_id: str) -> dict[str, Any] | None:
    tasks = (run.get("run_details") or {}).get("task_details") or []
    for task in tasks:
        if isinstance(task, dict) and task.get("task_id") == task_id:
            return task
    return None


def _pod_name(task: dict[str, Any]) -> str | None:
    if task.get("pod_name"):
        return str(task["pod_name"])
    for child in reversed(task.get("child_tasks") or []):
        if isinstance(child, dict) and child.get("pod_name"):
            return str(child["pod_name"])
    return None
