"""One proxied request: header filtering, namespace pinning of bodies, ownership checks
for writes, and the upstream exchange. No tornado handler here; see handlers.py."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlencode

from tornado import httputil

from jupyter_dsp.common.managed import is_managed, managed_filter, read_only_message
from jupyter_dsp.common.scrub import scrub_text, secrets_of
from jupyter_dsp.connection.explain import denied_message, tls_message
from jupyter_dsp.connection.model import Connection, Space
from jupyter_dsp.server.errors import ProxyError, upstream_message
from jupyter_dsp.server.routes import ID, Route, check_namespace
from jupyter_dsp.server.upstream import (
    BufferSink,
    ResponseSink,
    Target,
    UpstreamError,
    UpstreamPool,
    UpstreamRequest,
)

# request headers a caller may pass on; everything else (Authorization, Cookie, X-XSRFToken,
# kubeflow-userid, hop-by-hop, X-Forwarded-*) is dropped
# (Content-Length is set by the proxy from the body it actually sends)
FORWARD_REQUEST_HEADERS = ("Content-Type", "Accept", "Accept-Language")
JSON_BODY_LIMIT = 32 * 1024 * 1024
# requests that name a run or an experiment by id: in the project space of a multi-user stack
# they must reach the project's own resources only, whatever else the identity may reach
OWNED_BY_ID = {
    "pipelines.item": "pipelines",
    "versions.collection": "pipelines",
    "versions.item": "pipelines",
    "experiments.item": "experiments",
    "experiments.action": "experiments",
    "runs.item": "runs",
    "runs.action": "runs",
    "runs.logs": "runs",
    "runs.artifact": "runs",
    "recurringruns.item": "recurringruns",
    "recurringruns.action": "recurringruns",
}
OWNER_CACHE_SIZE = 4096
# deepest JSON body the proxy passes (a compiled KFP pipeline spec nests about 15 levels)
MAX_JSON_DEPTH = 100
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
DEFAULT_EXPERIMENT = "Default"  # KFP's name for a namespace's default experiment


class OwnerCache:
    """Which namespace a run or an experiment lives in. Resources never change namespace, so
    an answer stays true; a bounded dict keeps memory flat (oldest entries go first)."""

    def __init__(self, size: int = OWNER_CACHE_SIZE) -> None:
        self.size = size
        self._owners: dict[tuple[str, str, str], str] = {}

    def get(self, endpoint: str, kind: str, ident: str) -> str | None:
        return self._owners.get((endpoint, kind, ident))

    def put(self, endpoint: str, kind: str, ident: str, namespace: str) -> None:
        if len(self._owners) >= self.size:
            self._owners.pop(next(iter(self._owners)))
        self._owners[(endpoint, kind, ident)] = namespace


def json_too_deep(raw: bytes, limit: int) -> bool:
    """Whether a JSON text nests arrays/objects more than ``limit`` deep (strings skipped);
    checked before parsing, so a hostile body never reaches a recursive parser."""
    depth = 0
    for byte in _JSON_STRING.sub(b"", raw).translate(None, _NOT_BRACKET):
        if byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def upstream_headers(incoming: httputil.HTTPHeaders, token: str | None) -> httputil.HTTPHeaders:
    out = httputil.HTTPHeaders()
    for name in FORWARD_REQUEST_HEADERS:
        value = incoming.get(name)
        if value is not None:
            out[name] = value
    if token:
        out["Authorization"] = f"Bearer {token}"
    return out


class ProxyExchange:
    """Carries one request from the caller to the space's stack and the answer back."""

    def __init__(
        self,
        pool: UpstreamPool,
        target: Target,
        conn: Connection,
        space: Space,
        route: Route,
        method: str,
        incoming: httputil.HTTPHeaders,
        request_timeout: float,
        owners: OwnerCache | None = None,
    ) -> None:
        self.pool = pool
        self.owners = owners if owners is not None else OwnerCache()
        self.target = target
        self.conn = conn
        self.space = space
        self.route = route
        self.method = method
        self.incoming = incoming
        self.timeout = request_timeout
        self._buf = bytearray()
        self._upload: UpstreamRequest | None = None

    # ---- before the body ----------------------------------------------------------
    async def begin(self) -> None:
        """Checks that need the stack (who owns the pipeline written to), then for a
        streamed body opens the upstream request so chunks flow through as they arrive."""
        pipeline_id = self.route.pipeline_id
        if self.route.kind == "pipelines.upload_version":
            pipeline_id = dict(self.route.query).get("pipelineid") or None
            if not pipeline_id or not ID.match(pipeline_id):
                raise ProxyError(400, "pipelineid (a pipeline id) is required to upload a version")
        if pipeline_id:
            await self.check_pipeline_write(pipeline_id)
        if self.route.kind in OWNED_BY_ID:
            await self.check_owner()
        if self.space.managed:
            await self.check_managed()
        if self.route.kind in ("runs.list", "recurringruns.list"):
            experiment_id = dict(self.route.query).get("experiment_id")
            if experiment_id:
                await self.check_experiment(experiment_id)
        if self.route.body == "stream":
            headers = upstream_headers(self.incoming, self.space.token())
            length = self.incoming.get("Content-Length")
            if length is not None:  # validated by tornado; else the body goes chunked
                headers["Content-Length"] = length
            self._upload = await self._guard(
                self.pool.open(self.target, self.method, self.route.upstream_target(), headers)
            )

    async def check_pipeline_write(self, pipeline_id: str) -> None:
        """Writing a pipeline (or its versions) needs the pipeline to be in this space; the
        platform's managed pipelines take no write through any space."""
        if not self.space.multi_user and not self.space.managed:
            return  # single-user stacks have no namespaces
        data = await self.lookup(f"/apis/v2beta1/pipelines/{pipeline_id}")
        if data is None:
            return  # unknown pipeline: let the stack answer 404
        if self.space.managed and is_managed(data.get("tags")):
            raise ProxyError(403, read_only_message(pipeline_id))
        if not self.space.multi_user:
            return
        owner = str(data.get("namespace") or "")
        if self.space.name == "project":
            if owner == "":
                if self.conn.policy != "read-write":
                    raise ProxyError(
                        403,
                        f"pipeline {pipeline_id} is shared and the shared space is "
                        f"{self.conn.policy}: it cannot be changed from here",
                    )
                return
            check_namespace(owner, "project", self.space.namespace)
        elif owner != "":
            raise ProxyError(
                403,
                f"pipeline {pipeline_id} belongs to namespace {owner!r}, not to the shared space",
            )

    async def check_owner(self) -> None:
        """A pipeline, run or experiment named by id must be the project's (403 otherwise);
        in the shared space a pipeline read by id must be a shared one (404 otherwise)."""
        if not self.space.multi_user:
            return
        kind = OWNED_BY_ID[self.route.kind]
        ident = self.route.segments[1].split(":", 1)[0]
        if self.space.name != "project":
            if kind == "pipelines" and self.route.kind != "pipelines.item" and not self.route.write:
                # (pipelines.item is checked on the answer itself, see handlers._HandlerSink)
                owner = await self.namespace_of(kind, ident)
                if owner not in (None, ""):
                    raise ProxyError(404, "no such pipeline in the shared space")
            return
        if kind == "pipelines" and self.route.write:
            return  # writes are checked by check_pipeline_write (with the shared policy)
        owner = await self.namespace_of(kind, ident)
        if owner is None or owner == self.space.namespace:
            return
        if kind == "pipelines" and owner == "":
            return  # shared pipelines are readable from the project
        raise ProxyError(
            403,
            f"{kind[:-1]} {ident} is not in this project's namespace "
            f"({self.space.namespace!r}); the proxy only reaches the project namespace",
        )

    async def check_managed(self) -> None:
        """A single-user stack's managed pipelines are the shared space's, the rest the
        project's: lists are filtered on the tag, a read by id in the shared space must be a
        managed pipeline (404 otherwise)."""
        if self.route.kind == "pipelines.list":
            query = [(k, v) for k, v in self.route.query if k != "filter"]
            try:
                flt = managed_filter(dict(self.route.query).get("filter"), self.space.managed)
            except ValueError as exc:
                raise ProxyError(400, f"invalid filter: {exc}") from None
            self.route.query = [*query, ("filter", flt or "")]
            return
        if self.space.managed != "only" or self.route.write:
            return
        if self.route.kind in ("pipelines.item", "versions.collection", "versions.item"):
            data = await self.lookup(f"/apis/v2beta1/pipelines/{self.route.segments[1]}")
            if data is not None and not is_managed(data.get("tags")):
                raise ProxyError(404, "no such pipeline among the platform's managed pipelines")

    async def check_experiment(self, experiment_id: str) -> None:
        """Runs listed or created in an experiment: the experiment must be the project's."""
        if self.space.name != "project" or not self.space.multi_user:
            return
        if not ID.match(experiment_id):
            raise ProxyError(400, "experiment_id is not a valid id")
        owner = await self.namespace_of("experiments", experiment_id)
        if owner is not None and owner != self.space.namespace:
            raise ProxyError(
                403,
                f"experiment {experiment_id} is not in this project's namespace "
                f"({self.space.namespace!r}); the proxy only reaches the project namespace",
            )

    async def namespace_of(self, kind: str, ident: str) -> str | None:
        """The namespace of a run (its experiment's) or an experiment; None when the stack
        does not say (unknown id: the real request gets the stack's own 404)."""
        endpoint = self.space.endpoint
        known = self.owners.get(endpoint, kind, ident)
        if known is not None:
            return known
        data = await self.lookup(f"/apis/v2beta1/{kind}/{ident}")
        if data is None:
            return None
        if kind == "runs":
            experiment_id = data.get("experiment_id")
            if not isinstance(experiment_id, str) or not ID.match(experiment_id):
                return None
            owner = await self.namespace_of("experiments", experiment_id)
        else:
            owner = str(data.get("namespace") or "")
        if owner is not None:
            self.owners.put(endpoint, kind, ident, owner)
        return owner

    async def lookup(self, path: str) -> dict[str, Any] | None:
        sink = BufferSink(limit=8 * 1024 * 1024)
        headers = upstream_headers(httputil.HTTPHeaders(), self.space.token())
        await self._guard(
            self.pool.fetch(self.target, "GET", path, headers, None, sink, self.timeout)
        )
        if sink.code == 404:
            return None
        if sink.code != 200:
            return None  # the real request will get the same refusal, with its explanation
        try:
            data = json.loads(sink.body)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    # ---- the body -----------------------------------------------------------------
    async def feed(self, chunk: bytes) -> None:
        if self._upload is not None:
            await self._upload.write(chunk)
            return
        if self.route.body == "none":
            return  # a body on GET/DELETE is not forwarded
        self._buf += chunk
        if len(self._buf) > JSON_BODY_LIMIT:
            raise ProxyError(413, f"request body larger than {JSON_BODY_LIMIT} bytes")

    def abort(self) -> None:
        """The caller went away: drop the upstream request (its connection is not reused)."""
        if self._upload is not None:
            self._upload.stream.close()
            self._upload = None

    # ---- the exchange -------------------------------------------------------------
    async def respond(self, sink: ResponseSink) -> None:
        if self.route.body == "stream" and self._upload is None:
            raise ProxyError(400, "the request was aborted")
        if self._upload is not None:
            await self._guard(self._upload.finish_and_read(sink, self.timeout))
            return
        body: bytes | None = None
        if self.route.body == "json":
            body = await self.pinned_body()
        headers = upstream_headers(self.incoming, self.space.token())
        if body is not None:
            headers.setdefault("Content-Type", "application/json")
        await self._guard(
            self.pool.fetch(
                self.target,
                self.method,
                self.route.upstream_target(),
                headers,
                body,
                sink,
                self.timeout,
            )
        )

    async def pinned_body(self) -> bytes:
        raw = bytes(self._buf)
        if json_too_deep(raw, MAX_JSON_DEPTH):
            raise ProxyError(
                400, f"request body is JSON nested more than {MAX_JSON_DEPTH} levels deep"
            )
        if not self.route.pin_body and self.route.kind != "runs.create":
            return raw
        try:
            data = json.loads(raw or b"{}")
        except ValueError:
            raise ProxyError(400, "request body is not valid JSON") from None
        if not isinstance(data, dict):
            raise ProxyError(400, "request body must be a JSON object")
        if self.route.pin_body == "namespace":
            self._pin(data)
        elif self.route.pin_body == "pipeline":
            pipeline = data.get("pipeline")
            if not isinstance(pipeline, dict):
                raise ProxyError(400, "body.pipeline must be an object")
            self._pin(pipeline)
        if self.route.kind in ("runs.create", "recurringruns.create"):
            await self._check_run_experiment(data)
        return json.dumps(data).encode("utf-8")

    def _pin(self, obj: dict[str, Any]) -> None:
        value = obj.get("namespace")
        if value is not None and not isinstance(value, str):
            raise ProxyError(400, "namespace must be a string")
        check_namespace(value, self.space.name, self.space.namespace)
        if self.space.namespace:
            obj["namespace"] = self.space.namespace
        else:
            obj.pop("namespace", None)

    async def _check_run_experiment(self, run: dict[str, Any]) -> None:
        """A run lives in its experiment's namespace: that must be the project's. A run with
        no experiment goes to the project's default experiment (created when missing), as
        KFP's own UI does, never to whatever namespace the stack defaults to."""
        if not self.space.multi_user:
            return
        experiment_id = run.get("experiment_id") or dict(self.route.query).get("experiment_id")
        if experiment_id is not None and not isinstance(experiment_id, str):
            raise ProxyError(400, "experiment_id must be a string")
        if not experiment_id:
            run["experiment_id"] = await self.default_experiment()
            return
        await self.check_experiment(experiment_id)

    async def default_experiment(self) -> str:
        """The id of the project namespace's "Default" experiment, created when missing."""
        namespace = self.space.namespace
        known = self.owners.get(self.space.endpoint, "default-experiment", namespace)
        if known:
            return known
        flt = json.dumps(
            {
                "predicates": [
                    {"key": "display_name", "operation": "EQUALS", "string_value": "Default"}
                ]
            }
        )
        query = urlencode({"namespace": namespace, "filter": flt, "page_size": "1"})
        for attempt in range(2):
            found = await self.lookup(f"/apis/v2beta1/experiments?{query}")
            experiments = (found or {}).get("experiments") or []
            if experiments and isinstance(experiments[0], dict):
                ident = str(experiments[0].get("experiment_id") or "")
                if ID.match(ident):
                    self.owners.put(self.space.endpoint, "default-experiment", namespace, ident)
                    self.owners.put(self.space.endpoint, "experiments", ident, namespace)
                    return ident
            if attempt:
                break
            body = json.dumps({"display_name": DEFAULT_EXPERIMENT, "namespace": namespace})
            sink = BufferSink(limit=1024 * 1024)
            headers = upstream_headers(httputil.HTTPHeaders(), self.space.token())
            headers["Content-Type"] = "application/json"
            await self._guard(
                self.pool.fetch(
                    self.target,
                    "POST",
                    "/apis/v2beta1/experiments",
                    headers,
                    body.encode(),
                    sink,
                    self.timeout,
                )
            )
            if sink.code not in (200, 409):  # 409: created meanwhile by someone else
                said = scrub_text(upstream_message(sink.body), secrets_of([self.space.token()]))
                if sink.code in (401, 403):
                    path = "/apis/v2beta1/experiments"
                    said = denied_message(self.conn, self.space, sink.code, "POST", path, said)
                raise ProxyError(
                    sink.code if sink.code in (401, 403) else 502,
                    f"a run with no experiment goes to the project's default experiment "
                    f"{DEFAULT_EXPERIMENT!r}, which could not be created in namespace "
                    f"{namespace!r}: {said}",
                )
        raise ProxyError(
            502, f"the stack did not show the default experiment of namespace {namespace!r}"
        )

    async def _guard(self, awaitable: Any) -> Any:
        """Upstream failures become the proxy's own 502/504 with a message to act on."""
        try:
            return await awaitable
        except UpstreamError as exc:
            message = str(exc)
            if exc.tls:
                message = tls_message(self.space, message)
            raise ProxyError(exc.status, message) from None
