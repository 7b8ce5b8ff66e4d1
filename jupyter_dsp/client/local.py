"""Run locally from a cluster workbench: a :class:`DSPClient` for the local stack the Jupyter
server owns (announced in ``<jupyter runtime dir>/jupyter-dsp-local-stack.json``), and a run of
anything runnable on it without writing anything to the cluster's stack.

The kernel never imports the server extension. When no local stack is announced yet, it asks
the Jupyter server it runs under to start one: a read of ``dsp/api/local/.../healthz`` is the
"first use" that starts it (the server's own runtime files give its URL and token).
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from jupyter_dsp.client.compiling import (
    SOURCE_SUFFIXES,
    CompiledPipeline,
    is_pipeline_function,
    split_file_function,
)
from jupyter_dsp.client.dsp_client import DSPClient
from jupyter_dsp.client.errors import DSPError
from jupyter_dsp.client.run_models import Run
from jupyter_dsp.connection.local_stack import find_local_stack, local_runtime_file

START_TIMEOUT_S = 120.0
LOCAL_HINT = (
    "Open JupyterLab's Pipelines panel (Local tab) once, or check the Jupyter server's log: "
    "the server starts the local stack on first use."
)


def is_local_mode(client: DSPClient) -> bool:
    """Out of a cluster the project stack is already the local one."""
    return client.mode == "embedded"


def local_client(namespace: str, *, start: bool = True) -> DSPClient:
    """A client for the server's local stack, asking the server to start it when needed."""
    info = find_local_stack()
    if info is None and start:
        _ask_server_to_start()
        info = find_local_stack()
    if info is None:
        raise DSPError(
            f"No local pipeline stack is running (nothing usable in {local_runtime_file()}).",
            hint=LOCAL_HINT,
        )
    client = DSPClient.from_endpoint(
        info.url, info.token, namespace=namespace or info.namespace, shared=False
    )
    client.mode = "local"
    client.identity = "local stack"
    return client


def _servers() -> list[dict[str, Any]]:
    try:
        from jupyter_server.serverapp import list_running_servers
    except ImportError:
        return []
    found = list(list_running_servers())
    parent = os.getppid()
    # the server this kernel runs under first
    found.sort(key=lambda s: 0 if s.get("pid") == parent else 1)
    return found


def _ask_server_to_start() -> None:
    """GET ``dsp/api/local/apis/v2beta1/healthz`` on each running Jupyter server until one
    answers 200 (that request starts the local stack). Errors only make us try the next."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    for server in _servers():
        url = str(server.get("url") or "")
        if not url.startswith(("http://", "https://")):
            continue
        target = url.rstrip("/") + "/dsp/api/local/apis/v2beta1/healthz"
        req = urllib.request.Request(target)
        token = server.get("token")
        if token:
            req.add_header("Authorization", f"token {token}")
        try:
            with opener.open(req, timeout=START_TIMEOUT_S) as resp:
                if resp.status == 200 and find_local_stack() is not None:
                    return
        except (urllib.error.URLError, OSError, ValueError):
            continue


def run_locally(
    cluster: DSPClient,
    local: DSPClient,
    target: Any,
    arguments: Mapping[str, Any] | None = None,
    *,
    experiment: str | None = None,
    name: str | None = None,
    space: str | None = None,
    version: str | None = None,
) -> Run:
    """Run ``target`` on the local stack. A pipeline named on the cluster is only read there
    (its version's spec), then run inline on the local stack: no pipeline and no run is
    created on the cluster."""
    if not (
        is_pipeline_function(target) or isinstance(target, CompiledPipeline) or _is_file(target)
    ):
        target = cluster.fetch_spec(target, space=space, version=version)
    return local.run(target, arguments, experiment=experiment, name=name)


def _is_file(target: Any) -> bool:
    if not isinstance(target, str | os.PathLike):
        return False
    path, _ = split_file_function(os.fspath(target))
    return path.lower().endswith(SOURCE_SUFFIXES)
