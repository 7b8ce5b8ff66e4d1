"""The few Kubernetes API calls jupyter-dsp makes, with the pod's service account:
list/get DataSciencePipelinesApplications in the namespace, read a pod's log, and (Kubeflow)
read the profile namespace's object-storage Secret as KFP's launcher does."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Mapping
from typing import Any

from jupyter_dsp.connection.tokens import TokenFile

DSPA_GROUP = "datasciencepipelinesapplications.opendatahub.io"
DSPA_VERSION = "v1"
DSPA_PLURAL = "datasciencepipelinesapplications"


class KubeError(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


def kube_api_url(configured: str, environ: Mapping[str, str]) -> str | None:
    if configured:
        return configured.rstrip("/")
    host = environ.get("KUBERNETES_SERVICE_HOST")
    if not host:
        return None
    port = environ.get("KUBERNETES_SERVICE_PORT", "443")
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"https://{host}:{port}"


class KubeClient:
    """Thin wrapper over the official ``kubernetes`` client, authenticated with the
    service-account token (re-read when it rotates) and its ``ca.crt``."""

    def __init__(self, url: str, sa_dir: str, timeout: float = 10.0) -> None:
        from kubernetes import client

        self.url = url
        self.timeout = timeout
        self._token = TokenFile(os.path.join(sa_dir, "token"), "service-account token")
        conf = client.Configuration()
        conf.host = url
        ca = os.path.join(sa_dir, "ca.crt")
        if url.startswith("https://") and os.path.isfile(ca):
            conf.ssl_ca_cert = ca
        conf.api_key_prefix = {"authorization": "Bearer"}
        conf.api_key = {"authorization": self._token.read() or ""}

        def refresh(c: Any) -> None:
            c.api_key["authorization"] = self._token.read() or ""

        conf.refresh_api_key_hook = refresh
        self._api = client.ApiClient(conf)
        self._custom = client.CustomObjectsApi(self._api)
        self._core = client.CoreV1Api(self._api)

    def close(self) -> None:
        self._api.close()

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """One API call with the client's timeout; its failure as a KubeError (the API's
        status and message, or 502 when the API could not be reached)."""
        from kubernetes.client.exceptions import ApiException

        try:
            return fn(*args, _request_timeout=self.timeout, **kwargs)
        except ApiException as exc:
            raise KubeError(exc.status or 502, _api_message(exc)) from None
        except Exception as exc:  # urllib3 connection errors and the like
            raise KubeError(502, f"{type(exc).__name__}: {exc}") from None

    def list_dspas(self, namespace: str) -> list[dict[str, Any]]:
        custom = self._custom.list_namespaced_custom_object
        result = self._call(custom, DSPA_GROUP, DSPA_VERSION, namespace, DSPA_PLURAL)
        return list(result.get("items") or [])

    def get_dspa(self, namespace: str, name: str) -> dict[str, Any]:
        get = self._custom.get_namespaced_custom_object
        return dict(self._call(get, DSPA_GROUP, DSPA_VERSION, namespace, DSPA_PLURAL, name))

    def secret_data(self, namespace: str, name: str) -> dict[str, bytes]:
        """The decoded ``data`` of Secret ``name`` (KubeError 403/404 as the API says)."""
        read = self._core.read_namespaced_secret
        resp = self._call(read, name, namespace, _preload_content=False)
        try:
            body = json.loads(resp.data or b"{}")
        except ValueError as exc:
            raise KubeError(502, f"{type(exc).__name__}: {exc}") from None
        data = (body.get("data") or {}) if isinstance(body, dict) else {}
        decoded: dict[str, bytes] = {}
        for key, value in data.items():
            try:
                decoded[str(key)] = base64.b64decode(str(value), validate=True)
            except ValueError:
                continue
        return decoded

    def pod_log(
        self,
        namespace: str,
        pod: str,
        container: str | None = "main",
        limit_bytes: int | None = None,
    ) -> bytes:
        """The pod's log (at most ``limit_bytes``); falls back to the only container when
        ``main`` does not exist."""
        extra = {"limit_bytes": limit_bytes} if limit_bytes else {}
        read = self._core.read_namespaced_pod_log
        try:
            resp = self._call(
                read, pod, namespace, container=container, _preload_content=False, **extra
            )
        except KubeError as exc:
            if container and exc.status == 400:
                return self.pod_log(namespace, pod, container=None, limit_bytes=limit_bytes)
            raise
        return bytes(resp.data)


def _api_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if body:
        try:
            data = json.loads(body)
            if isinstance(data, dict) and data.get("message"):
                return str(data["message"])
        except (ValueError, TypeError):
            pass
    return f"{exc.status} {exc.reason}"


def pick_dspa(items: list[dict[str, Any]], wanted: str) -> dict[str, Any] | None:
    """The DSPA to use: the named one; else a ready one (prefer ``dspa``); else the first."""
    if wanted:
        return next((i for i in items if i.get("metadata", {}).get("name") == wanted), None)
    if not items:
        return None

    def ready(item: dict[str, Any]) -> bool:
        for cond in item.get("status", {}).get("conditions", []) or []:
            if cond.get("type") in ("Ready", "APIServerReady") and cond.get("status") == "True":
                return True
        return False

    def key(item: dict[str, Any]) -> tuple[int, int, str]:
        name = item.get("metadata", {}).get("name", "")
        return (0 if ready(item) else 1, 0 if name == "dspa" else 1, name)

    return sorted(items, key=key)[0]


def dspa_api_url(item: dict[str, Any], namespace: str) -> str:
    """``status.components.apiServer.url``, else the Service name pattern."""
    url = (item.get("status", {}).get("components", {}).get("apiServer", {}) or {}).get("url")
    if url:
        return str(url).rstrip("/")
    name = item.get("metadata", {}).get("name", "dspa")
    return f"https://ds-pipeline-{name}.{namespace}.svc.cluster.local:8443"
