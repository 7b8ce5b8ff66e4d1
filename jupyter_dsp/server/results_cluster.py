"""Results on a cluster: the document from ML Metadata, artifact bytes from object storage.

Glue between the server's results handlers and the cluster readers of
:mod:`jupyter_dsp.connection.mlmd` (``discover``, ``MLMDReader.read_run`` / ``.artifact``,
``ui_url``) and :mod:`jupyter_dsp.connection.objectstore` (``ObjectStore.head`` / ``.read``).
Those are blocking (gRPC, boto3), so they run on the default executor, one chunk at a time for
content. A store that cannot be reached gives a document with ``unavailable`` saying why and
the run's link in the cluster UI, never a failure of the whole answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from jupyter_dsp.connection.model import Connection
from jupyter_dsp.connection.results import unavailable_document
from jupyter_dsp.server.errors import ProxyError
from jupyter_dsp.stack.results_read import ReadRefused, plan_read

if TYPE_CHECKING:
    from jupyter_dsp.server.results import ArtifactHandler
    from jupyter_dsp.server.state import DSPState

T = TypeVar("T")


class ClusterResults:
    def __init__(self, state: DSPState, conn: Connection) -> None:
        self.state = state
        self.conn = conn

    async def _off_loop(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    def _endpoint(self) -> Any:
        from jupyter_dsp.connection.mlmd_endpoint import discover

        return discover(self.conn, self.state.settings)

    def _ui_url(self, run_id: str) -> str | None:
        from jupyter_dsp.connection.mlmd_endpoint import ui_url

        return ui_url(self.conn, self.state.settings, run_id)

    def _read_document(self, run_id: str, run: dict[str, Any]) -> dict[str, Any]:
        link = self._ui_url(run_id)
        state = str(run.get("state") or "")
        try:
            from jupyter_dsp.connection.mlmd import MLMDReader
            from jupyter_dsp.connection.mlmd_errors import MLMDError
        except ImportError as exc:  # pragma: no cover - the module ships with the package
            return unavailable_document(run_id, state, "mlmd", str(exc), link)
        try:
            endpoint = self._endpoint()
        except ValueError as exc:
            return unavailable_document(run_id, state, "mlmd", str(exc), link)
        if endpoint is None:
            reason = (
                "no ML Metadata store is known for this connection (set"
                " DSPSettings.mlmd_endpoint / JUPYTER_DSP_MLMD_ENDPOINT)"
            )
            return unavailable_document(run_id, state, "mlmd", reason, link)
        try:
            with MLMDReader(endpoint) as reader:
                doc = reader.read_run(run_id, self.conn.namespace, run.get("pipeline_spec"))
        except MLMDError as exc:
            return unavailable_document(run_id, state, "mlmd", str(exc), link)
        doc["ui_url"] = doc.get("ui_url") or link
        doc["state"] = doc.get("state") or state
        return doc

    async def document(self, run_id: str, run: dict[str, Any]) -> dict[str, Any]:
        return await self._off_loop(self._read_document, run_id, run)

    def _artifact_uri(self, run_id: str, artifact_id: str) -> str:
        from jupyter_dsp.connection.mlmd import MLMDReader
        from jupyter_dsp.connection.mlmd_errors import MLMDError

        endpoint = self._endpoint()
        if endpoint is None:
            raise ProxyError(
                501, "no ML Metadata store is known for this connection: artifacts cannot be read"
            )
        try:
            with MLMDReader(endpoint) as reader:
                artifact = reader.artifact(run_id, artifact_id, self.conn.namespace)
        except MLMDError as exc:
            raise ProxyError(int(getattr(exc, "status", 502) or 502), str(exc)) from None
        uri = str(artifact.get("uri") or "")
        if not uri:
            raise ProxyError(404, f"artifact {artifact_id} has no content (no URI)")
        return uri

    async def stream(
        self, handler: ArtifactHandler, run_id: str, artifact_id: str, range_header: str | None
    ) -> None:
        from jupyter_dsp.connection.objectstore import ObjectStore, ObjectStoreError
        from jupyter_dsp.server.results import max_read_bytes

        uri = await self._off_loop(self._artifact_uri, run_id, artifact_id)
        try:
            store = await self._off_loop(ObjectStore)
            info = await self._off_loop(store.head, uri)
            try:
                plan = plan_read(info.size, range_header, max_read_bytes())
            except ReadRefused as refused:
                if refused.status == 416:
                    handler.set_header("Content-Range", f"bytes */{refused.size}")
                raise ProxyError(refused.status, refused.message) from None
            if plan.length == 0:
                handler.set_header("Content-Length", "0")
                handler.finish(set_content_type="application/octet-stream")
                return
            read = await self._off_loop(store.read, uri, plan.start, plan.start + plan.length - 1)
        except ObjectStoreError as exc:
            raise ProxyError(exc.status, str(exc)) from None
        handler.set_status(plan.status)
        handler.set_header("Content-Length", str(plan.length))
        handler.set_header("Content-Type", "application/octet-stream")
        handler.set_header("X-Content-Type-Options", "nosniff")
        handler.set_header("Content-Security-Policy", "sandbox; default-src 'none'")
        handler.set_header("Accept-Ranges", "bytes")
        if plan.content_range:
            handler.set_header("Content-Range", plan.content_range)
        name = uri.rstrip("/").rsplit("/", 1)[-1] or artifact_id
        handler.set_header("Content-Disposition", f"attachment; filename*=UTF-8''{quote(name)}")
        try:
            while True:
                chunk = await self._off_loop(next, read.chunks, b"")
                if not chunk:
                    break
                handler.write(chunk)
                await handler.flush()
        finally:
            read.close()
        handler.finish(set_content_type="application/octet-stream")
