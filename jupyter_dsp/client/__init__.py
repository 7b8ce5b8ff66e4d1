"""Kernel-side client: ``connect()`` returns a :class:`DSPClient` for the resolved spaces."""

from __future__ import annotations

import os
from typing import Any

from jupyter_dsp.client.compiling import CompiledPipeline, compile_source
from jupyter_dsp.client.dsp_client import DSPClient
from jupyter_dsp.client.errors import ArgumentError, DSPError, NotFoundError
from jupyter_dsp.client.models import ConnectionInfo, Pipeline, PipelineVersion, ResultList
from jupyter_dsp.client.params import Parameter
from jupyter_dsp.client.run_models import LogChunk, Logs, Run, Task

__all__ = [
    "ArgumentError",
    "CompiledPipeline",
    "ConnectionInfo",
    "DSPClient",
    "DSPError",
    "LogChunk",
    "Logs",
    "NotFoundError",
    "Parameter",
    "Pipeline",
    "PipelineVersion",
    "ResultList",
    "Run",
    "Task",
    "compile_source",
    "connect",
]


def connect(
    endpoint: str | None = None,
    token: str | None = None,
    *,
    namespace: str | None = None,
    token_file: str | None = None,
    shared_endpoint: str | None = None,
    settings: Any = None,
    **kwargs: Any,
) -> DSPClient:
    """Connect to the project namespace's stack and the shared space.

    With no arguments the connection module resolves the same settings as the server extension
    (service-account token in a cluster, the embedded stack's runtime file on a laptop).
    ``endpoint`` (with ``token`` or ``token_file``) connects straight to a stack instead.
    """
    if endpoint:
        return DSPClient.from_endpoint(
            endpoint,
            token,
            namespace=namespace if namespace is not None else "default",
            token_file=token_file,
            shared_endpoint=shared_endpoint,
            **kwargs,
        )
    try:
        from jupyter_dsp.connection import (
            DSPConnectionError,
            DSPSettings,
            NoStackFound,
            resolve,
        )
    except ImportError:
        return _connect_from_env(namespace)
    settings = settings if settings is not None else DSPSettings.load()
    if namespace:
        settings.namespace = namespace
    try:
        conn = resolve(settings)
    except NoStackFound as exc:
        tried = "; ".join(getattr(exc, "tried", []) or [])
        hint = getattr(exc, "hint", "") or (
            "Configure one (jupyter_dsp_config.py or JUPYTER_DSP_ENDPOINT) or start "
            "JupyterLab with the jupyter-dsp extension."
        )
        message = f"No pipeline stack found (tried: {tried})." if tried else "No stack found."
        raise DSPError(message, hint=hint) from None
    except DSPConnectionError as exc:  # a setting that cannot work; the message says how
        raise DSPError(" ".join(str(exc).split())) from None
    from jupyter_dsp.client.ui_links import UI_LINKS
    from jupyter_dsp.common.links import ui_links

    links = ui_links(conn.mode, conn.namespace, settings)
    if links is not None:
        UI_LINKS["links"] = links
    else:
        UI_LINKS.pop("links", None)
    return DSPClient.from_connection(conn)


def _connect_from_env(namespace: str | None) -> DSPClient:
    endpoint = os.environ.get("JUPYTER_DSP_ENDPOINT")
    if not endpoint:
        raise DSPError(
            "No stack configured.",
            hint="Set JUPYTER_DSP_ENDPOINT and JUPYTER_DSP_TOKEN_FILE, or call "
            "connect(endpoint, token_file=...).",
        )
    policy = os.environ.get("JUPYTER_DSP_SHARED_POLICY", "read-write")
    return DSPClient.from_endpoint(
        endpoint,
        token_file=os.environ.get("JUPYTER_DSP_TOKEN_FILE"),
        namespace=namespace or os.environ.get("JUPYTER_DSP_NAMESPACE", "default"),
        shared_endpoint=os.environ.get("JUPYTER_DSP_SHARED_ENDPOINT"),
        shared=policy != "off",
        shared_writable=policy == "read-write",
        ca_bundle=os.environ.get("JUPYTER_DSP_CA_BUNDLE"),
    )
