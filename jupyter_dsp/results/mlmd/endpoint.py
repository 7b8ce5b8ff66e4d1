"""Where a project's ML Metadata store is, how to reach it, and where its run page is.

- ``DSPSettings.mlmd_endpoint`` (``JUPYTER_DSP_MLMD_ENDPOINT``) always wins; its transport is
  ``DSPSettings.mlmd_transport`` (``grpc`` | ``grpc-web``), else ``grpc-web`` for an http(s)
  URL and ``grpc`` for ``host:port`` (``grpcs://host:port`` for gRPC over TLS).
- Data Science Pipelines: the DSPA's ``status.components.mlmdProxy.url`` when the Kubernetes API
  can be read, else ``https://ds-pipeline-md-<dspa>.<namespace>.svc.cluster.local:8443``:
  kube-rbac-proxy (the workbench's token, the service CA) in front of Envoy's gRPC-Web filter.
  The MLMD gRPC port itself is closed to workbenches by the operator's NetworkPolicy.
- Kubeflow: ``metadata-grpc-service.kubeflow:8080`` over gRPC; the store has no authorization,
  so only runs the KFP API returned to this identity are read, and their namespace is checked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from jupyter_dsp.common.links import public_api_endpoint
from jupyter_dsp.connection.model import Connection
from jupyter_dsp.connection.settings import DSPSettings

KUBEFLOW_MLMD = "metadata-grpc-service.kubeflow:8080"
KUBEFLOW_UI_RUN = "/pipeline/#/runs/details/{run_id}"
TRANSPORTS = ("grpc", "grpc-web")


@dataclass
class MLMDEndpoint:
    """How to reach one ML Metadata store; never holds the token itself."""

    target: str  # grpc: host:port; grpc-web: base URL
    transport: str  # "grpc" | "grpc-web"
    how: str  # where it came from, for messages
    tls: bool = False
    ca_bundle: str | None = None
    ca_source: str | None = None
    token: Callable[[], str | None] = field(default=lambda: None, repr=False)
    namespace_check: bool = False  # Kubeflow: the store holds every namespace's runs
    grant: str | None = None  # what the proxy in front checks, for a 403 message
    identity: str = ""


def discover(
    conn: Connection, settings: DSPSettings, kube_status: dict | None = None
) -> MLMDEndpoint | None:
    """The store of ``conn``'s project, or None when it has none (embedded stack, or a
    configured endpoint with nothing known about its store).

    ``kube_status`` is the DSPA's ``status`` when the caller read it (optional)."""
    project = conn.project
    namespace = conn.namespace
    configured = (settings.mlmd_endpoint or "").strip()
    transport = (settings.mlmd_transport or "").strip().lower()
    if transport and transport not in TRANSPORTS:
        raise ValueError(
            f"mlmd_transport {settings.mlmd_transport!r} is not one of grpc, grpc-web "
            "(set DSPSettings.mlmd_transport or JUPYTER_DSP_MLMD_TRANSPORT)"
        )
    dspa = conn.dspa_name or settings.dspa_name or "dspa"
    grant = (
        f"create on datasciencepipelinesapplications/api {dspa!r} in namespace {namespace} "
        f"(Role ds-pipeline-user-access-{dspa})"
    )
    common = {
        "ca_bundle": project.ca_bundle,
        "ca_source": project.ca_source,
        "identity": conn.identity,
    }
    if configured:
        web = configured.startswith(("http://", "https://"))
        transport = transport or ("grpc-web" if web else "grpc")
        target, tls = _target(configured, transport)
        return MLMDEndpoint(
            target=target,
            transport=transport,
            how="DSPSettings.mlmd_endpoint",
            tls=tls,
            token=project.token if transport == "grpc-web" or tls else (lambda: None),
            namespace_check=conn.mode == "cluster-kubeflow" or project.multi_user,
            grant=grant if conn.mode == "cluster-dspa" else None,
            **common,  # type: ignore[arg-type]
        )
    if conn.mode == "cluster-dspa":
        url = ((kube_status or {}).get("components", {}).get("mlmdProxy", {}) or {}).get("url")
        how = f"DataSciencePipelinesApplication {namespace}/{dspa} status.components.mlmdProxy"
        if not url:
            url = f"https://ds-pipeline-md-{dspa}.{namespace}.svc.cluster.local:8443"
            how = f"the MLMD proxy Service of DataSciencePipelinesApplication {dspa!r}"
        return MLMDEndpoint(
            target=str(url).rstrip("/"),
            transport="grpc-web",
            how=how,
            tls=str(url).startswith("https://"),
            token=project.token,
            grant=grant,
            **common,  # type: ignore[arg-type]
        )
    if conn.mode == "cluster-kubeflow":
        return MLMDEndpoint(
            target=KUBEFLOW_MLMD,
            transport="grpc",
            how="Kubeflow's metadata-grpc-service",
            namespace_check=True,
            **common,  # type: ignore[arg-type]
        )
    return None


def _target(configured: str, transport: str) -> tuple[str, bool]:
    if transport == "grpc-web":
        return configured.rstrip("/"), configured.startswith("https://")
    parts = urlsplit(configured if "://" in configured else f"grpc://{configured}")
    tls = parts.scheme in ("grpcs", "https")
    port = parts.port or (443 if tls else 8080)
    return f"{parts.hostname}:{port}", tls


def ui_url(
    conn: Connection, settings: DSPSettings, run_id: str, experiment_id: str | None = None
) -> str | None:
    """A link to the run in the cluster's UI: Kubeflow's KFP UI (a path on the central
    dashboard's host, which also serves the notebook), or the Open Data Hub dashboard. The
    runtime file's ``public_api_endpoint`` is the dashboard's experiments page of the namespace
    (``https://<dashboard>/experiments/<namespace>/``); a run's page is
    ``<that>/<experiment id>/runs/<run id>`` (the dashboard's experimentRunDetailsRoute), so
    without the experiment the link is the experiments page."""
    if conn.mode == "cluster-kubeflow":
        return KUBEFLOW_UI_RUN.format(run_id=run_id)
    public = public_api_endpoint(settings.runtimes_dir)
    if not public:
        return None
    if experiment_id:
        return f"{public.rstrip('/')}/{experiment_id}/runs/{run_id}"
    return public
