"""Find the project namespace's pipeline stack and the shared space, the same way in the
Jupyter server and in a kernel."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from jupyter_dsp.common.runtime_files import runtime_url
from jupyter_dsp.connection.embedded import (
    data_dir,
    pid_alive,
    read_data_dir_stack,
    read_runtime_file,
    runtime_file,
    wait_for_starting_stack,
)
from jupyter_dsp.connection.kube import (
    KubeClient,
    KubeError,
    dspa_api_url,
    kube_api_url,
    pick_dspa,
)
from jupyter_dsp.connection.model import Connection, DSPConnectionError, NoStackFound, Space
from jupyter_dsp.connection.probe import Health, probe_healthz
from jupyter_dsp.connection.settings import DSPSettings
from jupyter_dsp.connection.tokens import TokenFile, choose_token_file, identity_from_token

CONFIGURE_HINT = (
    "Configure it with JUPYTER_DSP_ENDPOINT (and JUPYTER_DSP_TOKEN_FILE, JUPYTER_DSP_CA_BUNDLE), "
    "or c.DSPSettings.endpoint in a jupyter_dsp_config.py on the Jupyter config path "
    "(`jupyter --paths`)."
)


def in_cluster(settings: DSPSettings, environ: Mapping[str, str] | None = None) -> bool:
    """Running in a pod: the service-account directory has a namespace file."""
    return os.path.isfile(os.path.join(settings.sa_dir, "namespace"))


def wants_embedded(settings: DSPSettings, environ: Mapping[str, str] | None = None) -> bool:
    """Nothing configured and not in a cluster: the server should run the embedded stack."""
    env = os.environ if environ is None else environ
    return (
        settings.embedded
        and not settings.endpoint
        and not env.get("KF_PIPELINES_ENDPOINT")
        and not in_cluster(settings, env)
    )


def choose_ca(settings: DSPSettings, environ: Mapping[str, str]) -> tuple[str | None, str | None]:
    """The CA bundle and where it came from, in the order users expect."""
    candidates = [
        (settings.ca_bundle, "DSPSettings.ca_bundle"),
        (environ.get("KF_PIPELINES_SSL_SA_CERTS", ""), "KF_PIPELINES_SSL_SA_CERTS"),
        (environ.get("REQUESTS_CA_BUNDLE", ""), "REQUESTS_CA_BUNDLE"),
        (environ.get("SSL_CERT_FILE", ""), "SSL_CERT_FILE"),
        (os.path.join(settings.sa_dir, "service-ca.crt"), "service-account service-ca.crt"),
        (os.path.join(settings.sa_dir, "ca.crt"), "service-account ca.crt"),
    ]
    for path, source in candidates:
        if path and os.path.isfile(path):
            return path, source
    if settings.ca_bundle:  # configured but missing: say so when TLS fails
        return settings.ca_bundle, "DSPSettings.ca_bundle (file not found)"
    return None, None


@dataclass
class _Found:
    mode: str
    endpoint: str
    how: str
    dspa_name: str | None = None


def resolve(
    settings: DSPSettings | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    probe: bool = True,
) -> Connection:
    """Resolve the connection. Raises :class:`NoStackFound` with what was tried.

    ``probe`` asks each stack's healthz (multi-user flag, health); without it, defaults by mode.
    """
    settings = settings or DSPSettings.load()
    env = os.environ if environ is None else environ
    tried: list[str] = []
    cluster = in_cluster(settings, env)
    sa_namespace = _read(os.path.join(settings.sa_dir, "namespace"))

    if settings.endpoint:
        found = _Found("configured", settings.endpoint, "DSPSettings.endpoint")
    elif cluster:
        found = _discover_in_cluster(
            settings, env, settings.namespace or sa_namespace or "default", tried
        )
    elif env.get("KF_PIPELINES_ENDPOINT"):
        found = _Found("configured", env["KF_PIPELINES_ENDPOINT"], "KF_PIPELINES_ENDPOINT")
    else:
        tried.append(f"service-account directory {settings.sa_dir}: not in a cluster")
        tried.append("DSPSettings.endpoint / JUPYTER_DSP_ENDPOINT / KF_PIPELINES_ENDPOINT: unset")
        return _resolve_embedded(settings, env, tried, probe)

    _check_url(found.endpoint, found.how)
    if settings.shared_endpoint:
        _check_url(settings.shared_endpoint, "DSPSettings.shared_endpoint")
    namespace = settings.namespace or sa_namespace or "default"
    token_file: TokenFile | None
    if settings.token_file or cluster or env.get("KF_PIPELINES_SA_TOKEN_PATH"):
        choice = choose_token_file(
            settings.token_file, settings.sa_dir, settings.kubeflow_token_path, env
        )
        token_file = choice.token_file
    else:
        token_file = None
    ca, ca_source = choose_ca(settings, env)
    read_token: Callable[[], str | None] = token_file.read if token_file else (lambda: None)
    identity = identity_from_token(read_token()) or (
        f"the token in {token_file.path}" if token_file else "anonymous (no token)"
    )
    project = Space(
        name="project",
        endpoint=found.endpoint.rstrip("/"),
        namespace=namespace,
        multi_user=found.mode == "cluster-kubeflow",
        writable=True,
        ca_bundle=ca,
        ca_source=ca_source,
        token_source=f"{token_file.source} {token_file.path}" if token_file else None,
        _token=read_token,
    )
    health = _apply_probe(project, settings, probe)
    if found.mode == "cluster-kubeflow" and probe and not health.ok and health.status is None:
        tried.append(f"Kubeflow multi-user stack {found.endpoint}: {health.error}")
        raise NoStackFound(tried, CONFIGURE_HINT)
    conn = Connection(
        mode=found.mode,
        namespace=namespace,
        identity=identity,
        policy=settings.policy_for(embedded=False),
        project=project,
        shared=None,
        dspa_name=found.dspa_name,
        notes=tried + [f"using {found.how}: {found.endpoint}"],
    )
    conn.shared = _shared_space(conn, settings, env, probe)
    return conn


def _discover_in_cluster(
    settings: DSPSettings, env: Mapping[str, str], namespace: str, tried: list[str]
) -> _Found:
    if env.get("KF_PIPELINES_ENDPOINT"):
        return _Found("configured", env["KF_PIPELINES_ENDPOINT"], "KF_PIPELINES_ENDPOINT")
    tried.append("KF_PIPELINES_ENDPOINT: unset")
    runtime = _runtime_endpoint(settings.runtimes_dir)
    if runtime:
        path, endpoint = runtime
        return _Found("cluster-dspa", endpoint, f"runtime configuration {path}")
    tried.append(f"{settings.runtimes_dir}/*.json: no metadata.api_endpoint")
    url = kube_api_url(settings.kube_api_url, env)
    if url:
        kube = KubeClient(url, settings.sa_dir, timeout=settings.connect_timeout)
        try:
            items = kube.list_dspas(namespace)
            item = pick_dspa(items, settings.dspa_name)
            if item is not None:
                name = item.get("metadata", {}).get("name", "dspa")
                return _Found(
                    "cluster-dspa",
                    dspa_api_url(item, namespace),
                    f"DataSciencePipelinesApplication {namespace}/{name}",
                    dspa_name=name,
                )
            which = f" named {settings.dspa_name!r}" if settings.dspa_name else ""
            tried.append(f"DataSciencePipelinesApplication{which} in {namespace}: none")
        except KubeError as exc:
            tried.append(
                f"DataSciencePipelinesApplications in {namespace} via {url}: {exc.status} {exc}"
            )
        finally:
            kube.close()
    else:
        tried.append("Kubernetes API: KUBERNETES_SERVICE_HOST unset and no kube_api_url")
    return _Found("cluster-kubeflow", settings.kubeflow_endpoint, "Kubeflow multi-user stack")


def _runtime_endpoint(runtimes_dir: str) -> tuple[str, str] | None:
    found = runtime_url(runtimes_dir, "api_endpoint")
    return (found[0], found[1].rstrip("/")) if found else None


def _resolve_embedded(
    settings: DSPSettings, env: Mapping[str, str], tried: list[str], probe: bool
) -> Connection:
    if not settings.embedded:
        tried.append("embedded stack: disabled (DSPSettings.embedded = False)")
        raise NoStackFound(tried, CONFIGURE_HINT)
    info = read_runtime_file()
    if info is not None and info.pid and not pid_alive(info.pid) and not pid_alive(info.owner_pid):
        tried.append(
            f"embedded stack announced in {runtime_file()}: not running (pid {info.pid} and its "
            f"Jupyter server, pid {info.owner_pid}, have exited)"
        )
        info = None
    elif info is None:
        tried.append(f"embedded stack announced in {runtime_file()}: none")
    if info is None:
        info = read_data_dir_stack(settings, settings.namespace or "default")
        if info is None:
            tried.append(f"embedded stack serving {data_dir(settings)}: none")
    if info is None:  # a Jupyter server may be starting it right now: wait a little
        info = wait_for_starting_stack(data_dir(settings), settings.embedded_wait)
        if info is not None:
            tried.append("waited for the Jupyter server to start the embedded stack")
    if info is None:
        raise NoStackFound(
            tried,
            "Start JupyterLab / jupyter server with the jupyter_dsp extension enabled (it starts "
            f"the embedded stack), or `jupyter-dsp stack serve --data-dir {data_dir(settings)}`. "
            "For another stack: " + CONFIGURE_HINT[0].lower() + CONFIGURE_HINT[1:],
        )
    namespace = settings.namespace or info.namespace
    token = info.token
    project = Space(
        name="project",
        endpoint=info.url,
        namespace=namespace,
        multi_user=True,
        writable=True,
        token_source=f"embedded stack token of {info.url}",
        _token=lambda: token,
    )
    _apply_probe(project, settings, probe)
    conn = Connection(
        mode="embedded",
        namespace=namespace,
        identity="embedded:default",
        policy=settings.policy_for(embedded=True),
        project=project,
        shared=None,
        notes=tried + [f"using the embedded stack at {info.url}"],
    )
    conn.shared = _shared_space(conn, settings, env, probe)
    return conn


def _apply_probe(space: Space, settings: DSPSettings, probe: bool) -> Health:
    forced = settings.forced_multi_user() if space.name == "project" else None
    if not probe:
        if forced is not None:
            space.multi_user = forced
        return Health(ok=True, multi_user=space.multi_user)
    health = probe_healthz(space, settings.probe_timeout)
    if forced is not None:
        space.multi_user = forced
    elif health.ok and health.multi_user is not None:
        space.multi_user = health.multi_user
    if not health.ok:
        space.health_error = health.error
    return health


def _shared_space(
    conn: Connection, settings: DSPSettings, env: Mapping[str, str], probe: bool
) -> Space | None:
    project = conn.project
    if not project.multi_user:
        project.managed = "hide"  # the platform's managed pipelines are shared, not the project's
    if conn.policy == "off":
        return None
    writable = conn.policy == "read-write"
    if settings.shared_endpoint:
        if settings.shared_token_file:
            tf = TokenFile(settings.shared_token_file, "DSPSettings.shared_token_file")
            read_token: Callable[[], str | None] = tf.read
            source: str | None = f"{tf.source} {tf.path}"
        else:
            read_token = project.token
            source = project.token_source
        shared = Space(
            name="shared",
            endpoint=settings.shared_endpoint.rstrip("/"),
            namespace="",
            multi_user=False,
            writable=writable,
            ca_bundle=project.ca_bundle,
            ca_source=project.ca_source,
            token_source=source,
            _token=read_token,
        )
        _apply_probe(shared, settings, probe)
        if not project.multi_user:  # the catalog, and beside it the platform's managed ones
            conn.managed = _managed_space(project)
        return shared
    if project.multi_user:
        return _shared_view(project, writable=writable)
    conn.notes.append(
        "shared space: the platform's managed pipelines of the single-user project stack "
        "(tags.managed=true, read-only); set shared_endpoint for a catalog stack"
    )
    return _managed_space(project)


def _managed_space(project: Space) -> Space:
    """The single-user project stack seen as its platform-managed pipelines only: a shared
    space (read-only, tags.managed=true), dsp/api/shared without a catalog, else dsp/api/managed."""
    return _shared_view(project, writable=False, managed="only")


def _shared_view(project: Space, writable: bool, managed: str = "") -> Space:
    """The project's own stack seen without a namespace: the shared pipelines of a multi-user
    stack, or (``managed="only"``) the managed pipelines of a single-user one."""
    return Space(
        name="shared",
        endpoint=project.endpoint,
        namespace="",
        multi_user=project.multi_user,
        writable=writable,
        ca_bundle=project.ca_bundle,
        ca_source=project.ca_source,
        token_source=project.token_source,
        _token=project.token,
        health_error=project.health_error,
        managed=managed,
    )


def _check_url(url: str, source: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DSPConnectionError(
            f"{source} is {url!r}: a stack endpoint is an http:// or https:// URL "
            "(e.g. https://ds-pipeline-dspa.my-project.svc.cluster.local:8443)"
        )


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read().strip() or None
    except OSError:
        return None
