"""Task logs: from the stack's logs endpoint (embedded), or in a cluster from the task's pod
through the Kubernetes API (pods/log, with the service account)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from tornado.httputil import HTTPHeaders

from jupyter_dsp.connection.kube import KubeError
from jupyter_dsp.connection.model import Connection
from jupyter_dsp.connection.resolve import in_cluster
from jupyter_dsp.server.errors import ProxyError
from jupyter_dsp.server.proxy import upstream_headers
from jupyter_dsp.server.state import DSPState
from jupyter_dsp.server.upstream import BufferSink, UpstreamError

TERMINAL = {"SUCCEEDED", "FAILED", "SKIPPED", "CANCELED"}
MAX_LOG = 16 * 1024 * 1024


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
    headers = upstream_headers(HTTPHeaders(), conn.project.token())
    try:
        await state.pool.fetch(
            state.target(conn.project),
            "GET",
            path,
            headers,
            None,
            sink,
            state.settings.request_timeout,
        )
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
    try:
        run = json.loads(sink.body)
    except ValueError:
        raise ProxyError(502, "the pipeline stack answered a run that is not JSON") from None
    task = _find_task(run, task_id)
    if task is None:
        raise ProxyError(404, f"run {run_id} has no task {task_id}")
    pod = _pod_name(task)
    if not pod:
        raise ProxyError(404, f"task {task_id} of run {run_id} has no pod (yet)")
    state_name = str(task.get("state") or "")
    complete = state_name in TERMINAL or str(run.get("state") or "") in TERMINAL
    loop = asyncio.get_running_loop()
    try:
        kube = state.kube()
        data: bytes = await loop.run_in_executor(
            None, kube.pod_log, conn.namespace, pod, "main", offset + MAX_LOG
        )
    except KubeError as exc:
        if exc.status == 403:
            raise ProxyError(
                403,
                f"reading the log of pod {pod} was refused for {conn.identity}: {exc}. Missing "
                f"grant: verb 'get' on pods/log in namespace {conn.namespace}.",
            ) from None
        if exc.status == 404:
            raise ProxyError(404, f"pod {pod} of task {task_id} is gone: {exc}") from None
        raise ProxyError(502, f"Kubernetes API: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - a missing Kubernetes API, shown to the user
        raise ProxyError(502, str(exc)) from None
    body = data[offset:] if offset < len(data) else b""
    return LogSlice(
        200,
        body,
        "text/plain; charset=utf-8",
        str(max(offset, len(data))),
        "true" if complete else "false",
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
