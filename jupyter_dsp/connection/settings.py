"""Settings for jupyter-dsp, shared by the Jupyter server and kernels.

Sources, lowest precedence first:

1. trait defaults below;
2. ``jupyter_dsp_config.json`` / ``jupyter_dsp_config.py`` in every directory of
   :func:`jupyter_core.paths.jupyter_config_path` (its first directory, the user's, wins);
3. a ``DSPSettings`` section in the configuration of the parent application
   (``c.DSPSettings.endpoint = ...`` in ``jupyter_server_config.py``);
4. environment variables ``JUPYTER_DSP_<TRAIT NAME IN UPPER CASE>``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from jupyter_core.paths import jupyter_config_path
from traitlets import Bool, Float, List, Unicode, Union
from traitlets.config import Config, Configurable
from traitlets.config.loader import (
    ConfigFileNotFound,
    JSONFileConfigLoader,
    PyFileConfigLoader,
)

CONFIG_BASENAME = "jupyter_dsp_config"
ENV_PREFIX = "JUPYTER_DSP_"
POLICIES = ("read-write", "read-only", "off")


class DSPSettings(Configurable):
    """Where the pipeline stack is and how to talk to it. Every trait can be set in
    ``jupyter_dsp_config.py``/``.json`` or with ``JUPYTER_DSP_<NAME>``."""

    endpoint = Unicode(
        "",
        help="KFP API base URL of the project stack (e.g. https://ds-pipeline-dspa.ns.svc:8443). "
        "Empty: discover it (cluster) or use the embedded stack (laptop).",
    ).tag(config=True)
    namespace = Unicode(
        "", help="Project namespace. Empty: the service account's namespace, else 'default'."
    ).tag(config=True)
    token_file = Unicode(
        "",
        help="File holding the bearer token for the project stack; re-read when it changes. "
        "Empty: KF_PIPELINES_SA_TOKEN_PATH, the Kubeflow projected token, the service-account "
        "token.",
    ).tag(config=True)
    ca_bundle = Unicode(
        "",
        help="CA bundle for TLS to the stacks. Empty: KF_PIPELINES_SSL_SA_CERTS, "
        "REQUESTS_CA_BUNDLE, SSL_CERT_FILE, then service-ca.crt / ca.crt in the service-account "
        "directory.",
    ).tag(config=True)
    shared_endpoint = Unicode(
        "",
        help="KFP API base URL of a separate shared catalog stack (for one-stack-per-namespace "
        "deployments). Empty: the project stack's shared space when it is multi-user.",
    ).tag(config=True)
    shared_token_file = Unicode(
        "", help="Token file for the shared catalog stack. Empty: the project stack's token."
    ).tag(config=True)
    shared_policy = Unicode(
        "",
        help="Shared space policy: read-write, read-only or off. Empty: read-write for the "
        "embedded stack, read-only elsewhere.",
    ).tag(config=True)
    multi_user = Union(
        [Bool(), Unicode()],
        default_value="",
        help="Force the project stack's multi-user flag (true/false). Empty: ask its healthz.",
    ).tag(config=True)

    sa_dir = Unicode(
        "/var/run/secrets/kubernetes.io/serviceaccount",
        help="Service-account directory (namespace, token, ca.crt, service-ca.crt).",
    ).tag(config=True)
    kubeflow_token_path = Unicode(
        "/var/run/secrets/kubeflow/pipelines/token",
        help="Kubeflow's projected token for the pipelines audience.",
    ).tag(config=True)
    runtimes_dir = Unicode(
        "/opt/app-root/runtimes",
        help="Directory of Elyra runtime files mounted by the Open Data Hub notebook controller.",
    ).tag(config=True)
    kube_api_url = Unicode(
        "",
        help="Kubernetes API URL. Empty: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT.",
    ).tag(config=True)
    dspa_name = Unicode(
        "", help="Name of the DataSciencePipelinesApplication to use. Empty: the ready one."
    ).tag(config=True)
    kubeflow_endpoint = Unicode(
        "http://ml-pipeline.kubeflow.svc.cluster.local:8888",
        help="Kubeflow's multi-user KFP API, the last cluster fallback.",
    ).tag(config=True)

    mlmd_endpoint = Unicode(
        "",
        help="ML Metadata store of the project stack, for run results: an https:// URL "
        "(gRPC-Web, e.g. https://ds-pipeline-md-dspa.ns.svc.cluster.local:8443) or host:port "
        "(gRPC; grpcs://host:port for TLS). Empty: discover it (DSPA's MLMD proxy, Kubeflow's "
        "metadata-grpc-service).",
    ).tag(config=True)
    kubeflow_minio_endpoint = Unicode(
        "http://minio-service.kubeflow:9000",
        help="Kubeflow: the object store of minio:// artifacts (KFP's launcher default), read "
        "with the profile namespace's mlpipeline-minio-artifact Secret when no AWS_* "
        "variables name credentials.",
    ).tag(config=True)
    mlmd_transport = Unicode(
        "",
        help="grpc or grpc-web for mlmd_endpoint. Empty: grpc-web for a URL, grpc for host:port.",
    ).tag(config=True)

    embedded = Bool(
        True, help="Out of a cluster with nothing configured, use the embedded stack."
    ).tag(config=True)
    ui_url = Unicode(
        "",
        help="Base URL of the cluster's pipelines UI for links out (KFP UI, e.g. "
        "https://kubeflow.example.com/pipeline, or the ODH dashboard's origin). Empty: found "
        "from the mode (Kubeflow: /pipeline) or the runtime file's public_api_endpoint.",
    ).tag(config=True)
    ui_kind = Unicode("", help="kfp or odh: which UI ui_url is (empty: by mode).").tag(config=True)
    embedded_wait = Float(
        20.0,
        help="Seconds a kernel waits for the embedded stack while a Jupyter server starts it.",
    ).tag(config=True)
    embedded_data_dir = Unicode(
        "", help="Embedded stack data directory. Empty: <jupyter data dir>/dsp/stack."
    ).tag(config=True)
    step_env_cache_size = Unicode(
        "5G",
        help="Stacks this server starts (embedded, local): bound of the package environments "
        "of steps with packages_to_install, least recently used evicted (e.g. 5G, 500M).",
    ).tag(config=True)
    step_caching = Bool(
        True,
        help="Stacks this server starts: serve a step from the step cache when its component "
        "and inputs match an earlier success and the task allows caching.",
    ).tag(config=True)
    python_in_containers = Bool(
        False,
        help="Stacks this server starts: run Python components in a container engine too "
        "(Docker or Podman); by default they run as subprocesses.",
    ).tag(config=True)
    step_import_roots = List(
        Unicode(),
        default_value=None,
        allow_none=True,
        help="Stacks this server starts: directories local-path and file:// importers may "
        "read. None (default): none on a multi-user stack, the working directory on a "
        "single-user one. The stack's data dir and service-account token directories are "
        "never readable, whatever this says.",
    ).tag(config=True)

    connect_timeout = Float(10.0, help="Seconds to connect to a stack.").tag(config=True)
    request_timeout = Float(
        120.0, help="Seconds to wait for a stack's response headers before answering 504."
    ).tag(config=True)
    probe_timeout = Float(3.0, help="Seconds for a healthz probe.").tag(config=True)
    idle_timeout = Float(
        60.0,
        help="Seconds an upload through the proxy (or a stack's answer) may stay silent "
        "before the exchange is cut (504).",
    ).tag(config=True)
    total_timeout = Float(
        900.0,
        help="Seconds one proxied request may take as a whole, upload included (504).",
    ).tag(config=True)

    @classmethod
    def load(
        cls,
        config: Config | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        config_paths: list[str] | None = None,
    ) -> DSPSettings:
        """Settings from config files, then ``config`` (e.g. the server's), then the environment."""
        merged = Config()
        paths = config_paths if config_paths is not None else jupyter_config_path()
        for directory in reversed(paths):  # the first path has the highest priority
            merged.merge(_load_config_dir(directory))
        if config is not None and cls.__name__ in config:
            merged.merge(Config({cls.__name__: config[cls.__name__]}))
        settings = cls(config=merged)
        settings.apply_environ(os.environ if environ is None else environ)
        return settings

    def apply_environ(self, environ: Mapping[str, str]) -> None:
        """Apply ``JUPYTER_DSP_<NAME>`` overrides."""
        for name, trait in self.traits(config=True).items():
            raw = environ.get(ENV_PREFIX + name.upper())
            if raw is None:
                continue
            if isinstance(trait, Bool):
                setattr(self, name, _parse_bool(raw, ENV_PREFIX + name.upper()))
            elif isinstance(trait, Float):
                try:
                    setattr(self, name, float(raw))
                except ValueError as exc:
                    raise ValueError(f"{ENV_PREFIX}{name.upper()}={raw!r} is not a number") from exc
            elif isinstance(trait, List):  # directories: os.pathsep-separated
                setattr(self, name, [p for p in raw.split(os.pathsep) if p.strip()])
            else:
                setattr(self, name, raw)

    def policy_for(self, embedded: bool) -> str:
        """The effective shared-space policy."""
        policy = self.shared_policy.strip().lower()
        if not policy:
            return "read-write" if embedded else "read-only"
        if policy not in POLICIES:
            raise ValueError(
                f"shared_policy {self.shared_policy!r} is not one of {', '.join(POLICIES)} "
                f"(set DSPSettings.shared_policy or {ENV_PREFIX}SHARED_POLICY)"
            )
        return policy

    def forced_multi_user(self) -> bool | None:
        """The ``multi_user`` override, or None to ask the stack."""
        value: Any = self.multi_user
        if isinstance(value, bool):
            return value
        if not str(value).strip():
            return None
        return _parse_bool(str(value), "multi_user")


def _parse_bool(raw: str, what: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{what}={raw!r} is not a boolean (use true or false)")


def _load_config_dir(directory: str) -> Config:
    merged = Config()
    for loader_cls, suffix in ((JSONFileConfigLoader, ".json"), (PyFileConfigLoader, ".py")):
        if not os.path.isfile(os.path.join(directory, CONFIG_BASENAME + suffix)):
            continue
        loader = loader_cls(CONFIG_BASENAME + suffix, path=directory)
        try:
            merged.merge(loader.load_config())
        except ConfigFileNotFound:
            continue
    return merged
