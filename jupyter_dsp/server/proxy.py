"""One proxied request: header filtering, namespace pinning of bodies and the upstream
exchange; the checks that need the stack (who owns what it names) are ownership.py's. No
tornado handler here; see handlers.py."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from tornado import httputil

from jupyter_dsp.server.errors import ProxyError
from jupyter_dsp.server.ownership import OWNED_BY_ID, OwnershipChecks
from jupyter_dsp.server.routes import ID, check_namespace
from jupyter_dsp.server.upstream import UpstreamRequest, upstream_headers
from jupyter_dsp.server.upstream_response import ResponseSink

JSON_BODY_LIMIT = 32 * 1024 * 1024
# deepest JSON body the proxy passes (a compiled KFP pipeline spec nests about 15 levels)
MAX_JSON_DEPTH = 100
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")


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


@dataclass(eq=False)
class ProxyExchange(OwnershipChecks):
    """Carries one request from the caller to the space's stack and the answer back: the
    caller's ``method`` and headers (``incoming``; only some are passed on)."""

    method: str = "GET"
    incoming: httputil.HTTPHeaders = field(default_factory=httputil.HTTPHeaders)
    _buf: bytearray = field(default_factory=bytearray, init=False, repr=False)
    _upload: UpstreamRequest | None = field(default=None, init=False, repr=False)

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
            await self.check_run_experiment(data)
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
