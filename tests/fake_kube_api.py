"""A minimal fake Kubernetes API on loopback for discovery tests.

Serves only what jupyter-dsp reads, with the real API's JSON shapes:
- list/get ``datasciencepipelinesapplications.opendatahub.io/v1`` in a namespace;
- ``pods/{name}/log`` (text/plain), with ``container``;
- get ``secrets/{name}`` (``data`` base64-encoded), 403 where the identity may not.
Everything else, and a wrong bearer token, answers a ``Status`` object like the real API.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Callable
from typing import Any

import tornado.httpserver
import tornado.netutil
import tornado.web

GROUP = "datasciencepipelinesapplications.opendatahub.io"


def status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def make_dspa(name: str, namespace: str, *, url: str | None = None, ready: bool = True) -> dict:
    components: dict[str, Any] = {}
    if url:
        components["apiServer"] = {"url": url, "externalUrl": f"https://{name}-{namespace}.apps"}
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "DataSciencePipelinesApplication",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"uid-{namespace}-{name}",
            "resourceVersion": "1001",
            "generation": 1,
            "creationTimestamp": "2026-01-01T00:00:00Z",
        },
        "spec": {"dspVersion": "v2", "apiServer": {"deploy": True}},
        "status": {
            "components": components,
            "conditions": [
                {
                    "type": "APIServerReady",
                    "status": "True" if ready else "False",
                    "reason": "MinimumReplicasAvailable" if ready else "Deploying",
                    "message": "",
                    "lastTransitionTime": "2026-01-01T00:00:00Z",
                },
                {
                    "type": "Ready",
                    "status": "True" if ready else "False",
                    "reason": "MinimumReplicasAvailable" if ready else "Deploying",
                    "message": "",
                    "lastTransitionTime": "2026-01-01T00:00:00Z",
                },
            ],
        },
    }


class FakeKube:
    """State of the fake cluster; tests mutate it directly."""

    def __init__(self, token_check: Callable[[str], bool]) -> None:
        self.token_check = token_check
        self.dspas: dict[str, list[dict[str, Any]]] = {}
        self.pod_logs: dict[tuple[str, str, str], bytes] = {}  # (ns, pod, container) -> log
        self.forbidden_namespaces: set[str] = set()
        # Secrets: (namespace, name) -> data (plain bytes; served base64-encoded as the API does)
        self.secrets: dict[tuple[str, str], dict[str, bytes]] = {}
        self.denied_secrets: set[str] = set()  # namespaces whose Secrets the identity may not get
        self.requests: list[tuple[str, str, str]] = []  # (method, path, authorization)
        self.last_query = ""
        self.url = ""


class _Base(tornado.web.RequestHandler):
    def initialize(self, kube: FakeKube) -> None:
        self.kube = kube

    def prepare(self) -> None:
        auth = self.request.headers.get("Authorization", "")
        self.kube.requests.append((self.request.method or "", self.request.path, auth))
        self.kube.last_query = self.request.query
        token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else ""
        if not self.kube.token_check(token):
            self.fail(401, "Unauthorized", "Unauthorized")

    def fail(self, code: int, reason: str, message: str) -> None:
        self.set_status(code)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(status(code, reason, message)))

    def check_ns(self, namespace: str, what: str) -> bool:
        if namespace in self.kube.forbidden_namespaces:
            self.fail(
                403,
                "Forbidden",
                f'{what} is forbidden: User "system:serviceaccount:{namespace}:nb" cannot '
                f'list resource "{what}" in API group "{GROUP}" in the namespace "{namespace}"',
            )
            return False
        return True

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.fail(status_code, "InternalError", self._reason)


class DSPAList(_Base):
    def get(self, namespace: str) -> None:
        if not self.check_ns(namespace, "datasciencepipelinesapplications"):
            return
        self.set_header("Content-Type", "application/json")
        self.finish(
            json.dumps(
                {
                    "apiVersion": f"{GROUP}/v1",
                    "kind": "DataSciencePipelinesApplicationList",
                    "metadata": {"continue": "", "resourceVersion": "2002"},
                    "items": self.kube.dspas.get(namespace, []),
                }
            )
        )


class DSPAGet(_Base):
    def get(self, namespace: str, name: str) -> None:
        if not self.check_ns(namespace, "datasciencepipelinesapplications"):
            return
        for item in self.kube.dspas.get(namespace, []):
            if item["metadata"]["name"] == name:
                self.set_header("Content-Type", "application/json")
                self.finish(json.dumps(item))
                return
        self.fail(404, "NotFound", f'datasciencepipelinesapplications.{GROUP} "{name}" not found')


class PodLog(_Base):
    def get(self, namespace: str, pod: str) -> None:
        if not self.check_ns(namespace, "pods/log"):
            return
        container = self.get_query_argument("container", None)
        containers = {c for (ns, p, c) in self.kube.pod_logs if ns == namespace and p == pod}
        if not containers:
            self.fail(404, "NotFound", f'pods "{pod}" not found')
            return
        if container is None:
            if len(containers) > 1:
                self.fail(
                    400,
                    "BadRequest",
                    f"a container name must be specified for pod {pod}, choose one of: "
                    f"{sorted(containers)}",
                )
                return
            container = next(iter(containers))
        if container not in containers:
            self.fail(400, "BadRequest", f"container {container} is not valid for pod {pod}")
            return
        data = self.kube.pod_logs[(namespace, pod, container)]
        limit = self.get_query_argument("limitBytes", None)
        if limit is not None:
            data = data[: int(limit)]
        self.set_header("Content-Type", "text/plain")
        self.finish(data)


class SecretGet(_Base):
    def get(self, namespace: str, name: str) -> None:
        if namespace in self.kube.denied_secrets or namespace in self.kube.forbidden_namespaces:
            self.fail(
                403,
                "Forbidden",
                f'secrets "{name}" is forbidden: User "system:serviceaccount:{namespace}:nb" '
                f'cannot get resource "secrets" in API group "" in the namespace "{namespace}"',
            )
            return
        data = self.kube.secrets.get((namespace, name))
        if data is None:
            self.fail(404, "NotFound", f'secrets "{name}" not found')
            return
        self.set_header("Content-Type", "application/json")
        self.finish(
            json.dumps(
                {
                    "kind": "Secret",
                    "apiVersion": "v1",
                    "metadata": {"name": name, "namespace": namespace},
                    "type": "Opaque",
                    "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
                }
            )
        )


class NotFound(_Base):
    def get(self, *args: str) -> None:
        self.fail(404, "NotFound", "the server could not find the requested resource")


class FakeKubeServer:
    """Runs the fake API on a thread with its own event loop; ``stop()`` ends it."""

    def __init__(self, token_check: Callable[[str], bool]) -> None:
        self.kube = FakeKube(token_check)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: tornado.httpserver.HTTPServer | None = None

    def start(self) -> FakeKube:
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        port = sockets[0].getsockname()[1]
        self.kube.url = f"http://127.0.0.1:{port}"
        ready = threading.Event()
        k = {"kube": self.kube}
        dspas = rf"/apis/{GROUP}/v1/namespaces/([^/]+)/datasciencepipelinesapplications"
        app = tornado.web.Application(
            [
                (dspas, DSPAList, k),
                (dspas + r"/([^/]+)", DSPAGet, k),
                (r"/api/v1/namespaces/([^/]+)/pods/([^/]+)/log", PodLog, k),
                (r"/api/v1/namespaces/([^/]+)/secrets/([^/]+)", SecretGet, k),
                (r"/(.*)", NotFound, k),
            ]
        )

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            self._server = tornado.httpserver.HTTPServer(app)
            self._server.add_sockets(sockets)
            loop.call_soon(ready.set)
            loop.run_forever()
            self._server.stop()
            loop.run_until_complete(self._server.close_all_connections())
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-kube-api", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self.kube

    def stop(self) -> None:
        if self._loop and self._thread:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
