"""Who owns what a proxied request names, asked from the space's stack: pipelines written to,
runs, experiments and pipelines named by id, managed pipelines, the experiment a run goes to
(the project's "Default" one, created when missing). No tornado handler here; proxy.py
carries the request itself."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from tornado import httputil

from jupyter_dsp.common.managed import is_managed, managed_filter, read_only_message
from jupyter_dsp.common.scrub import scrub_text, secrets_of
from jupyter_dsp.connection.explain import denied_message, tls_message
from jupyter_dsp.connection.model import Connection, Space
from jupyter_dsp.server.errors import ProxyError, upstream_message
from jupyter_dsp.server.routes import ID, Route, check_namespace
from jupyter_dsp.server.upstream import Target, UpstreamPool, upstream_headers
from jupyter_dsp.server.upstream_response import BufferSink, UpstreamError

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


@dataclass(eq=False)
class OwnershipChecks:
    """The checks of one proxied request that need the stack, and the lookups they make:
    the request's ``route`` in ``space`` of ``conn``, reached through ``pool`` at
    ``target``; each lookup may take ``timeout`` seconds; answers are kept in ``owners``."""

    pool: UpstreamPool
    target: Target
    conn: Connection
    space: Space
    route: Route
    timeout: float
    owners: OwnerCache = field(default_factory=OwnerCache)

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

    async def check_run_experiment(self, run: dict[str, Any]) -> None:
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
