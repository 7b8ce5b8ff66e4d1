"""Results on a cluster: the document from ML Metadata, artifact bytes from object storage.

Glue between the server's results handlers and the same cluster readers the kernel uses:
:func:`jupyter_dsp.results.cluster.cluster_results` for the document (the KFP run's
state, artifact sizes, the run's page in the cluster UI) and
:func:`jupyter_dsp.results.cluster_content.open_cluster_artifact` for bytes (one object, or a
directory sent as a tar). Those are blocking (gRPC, boto3), so they run on the default
executor, one chunk at a time for content. A store that cannot be reached gives a document with
``unavailable`` saying why and the run's link, never a failure of the whole answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from jupyter_dsp.connection.model import Connection
from jupyter_dsp.server.egress import content_disposition, content_type_of, max_read_bytes
from jupyter_dsp.server.errors import ProxyError
from jupyter_dsp.stack.results_read import ReadRefused, plan_read

if TYPE_CHECKING:
    from jupyter_dsp.server.handlers import DSPHandler
    from jupyter_dsp.server.state import DSPState

T = TypeVar("T")
_END: Any = object()  # what next() gives once the chunks are exhausted


class ClusterResults:
    def __init__(self, state: DSPState, conn: Connection) -> None:
        self.state = state
        self.conn = conn

    async def _off_loop(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    def _read_document(self, run: dict[str, Any]) -> dict[str, Any]:
        from jupyter_dsp.results.cluster import cluster_results

        return cluster_results(self.conn, self.state.settings, run)

    async def document(self, run: dict[str, Any]) -> dict[str, Any]:
        """The document of ``run`` (as the KFP API has just returned it)."""
        return await self._off_loop(self._read_document, run)

    def _open(self, run_id: str, artifact_id: str) -> Any:
        from jupyter_dsp.results.cluster_content import open_cluster_artifact
        from jupyter_dsp.results.mlmd.errors import MLMDError
        from jupyter_dsp.results.objectstore import ObjectStoreError

        try:
            return open_cluster_artifact(self.conn, self.state.settings, run_id, artifact_id)
        except (MLMDError, ObjectStoreError) as exc:
            raise ProxyError(int(getattr(exc, "status", 502) or 502), str(exc)) from None
        except ValueError as exc:  # a setting that cannot work (mlmd_transport)
            raise ProxyError(500, str(exc)) from None

    async def stream(
        self, handler: DSPHandler, run_id: str, artifact_id: str, range_header: str | None
    ) -> None:
        from jupyter_dsp.results.objectstore import ObjectStoreError

        art = await self._off_loop(self._open, run_id, artifact_id)
        try:
            plan = plan_read(art.size, range_header, max_read_bytes())
        except ReadRefused as refused:
            if refused.status == 416:
                handler.set_header("Content-Range", f"bytes */{refused.size}")
            raise ProxyError(refused.status, refused.message) from None
        disposition = content_disposition(art.filename, fallback=artifact_id)
        if plan.length == 0:
            handler.set_header("Content-Length", "0")
            handler.set_header("Content-Disposition", disposition)
            handler.finish(set_content_type="application/octet-stream")
            return
        try:
            read = await self._off_loop(art.read, plan.start, plan.length)
        except ObjectStoreError as exc:
            raise ProxyError(exc.status, str(exc)) from None
        content_type = content_type_of(art.content_type)
        handler.set_status(plan.status)
        handler.set_header("Content-Length", str(plan.length))
        handler.set_header("Content-Type", content_type)
        handler.set_header("X-Content-Type-Options", "nosniff")
        handler.set_header("Content-Security-Policy", "sandbox; default-src 'none'")
        handler.set_header("Accept-Ranges", "bytes")
        if plan.content_range:
            handler.set_header("Content-Range", plan.content_range)
        handler.set_header("Content-Disposition", disposition)
        try:
            while True:
                try:
                    chunk = await self._off_loop(next, read.chunks, _END)
                except ObjectStoreError as exc:  # a file of a directory went away mid-tar
                    raise ProxyError(exc.status, str(exc)) from None
                if chunk is _END:  # the end is said explicitly: an empty chunk is not it
                    break
                if chunk:
                    handler.write(chunk)
                    await handler.flush()
        finally:
            read.close()
        handler.finish(set_content_type=content_type)
