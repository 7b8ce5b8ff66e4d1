"""KFP's archived step log endpoint, as the KFP API server (and Data Science Pipelines) serve it:
``GET /apis/v1alpha1/runs/{run_id}/nodes/{node_id}/log``.

The KFP API server reads the node's pod log while the pod exists and the log archived in the
object store once it is gone (backend/src/apiserver/server/run_log_server.go). It answers the
whole log as ``text/plain`` and errors as ``{"error_message", "error_details"}``. Here a node is
a task (its id) and every log is "archived" (a file of the run); a task with no log file is a
404, as when archiving was off. Streamed in chunks, so memory stays flat for a large log.
"""

from __future__ import annotations

from jupyter_dsp.stack.errors import not_found
from jupyter_dsp.stack.handlers.base import ID, ApiHandler

SERVICE_KEY = "runs"  # the runs service (jupyter_dsp.stack.runner), started by run_routes


class ArchivedLogHandler(ApiHandler):
    upload_error_shape = True  # KFP's run log server answers api.Error, not a gRPC status

    async def get(self, run_id: str, node_id: str) -> None:
        runs = self.ctx.extras[SERVICE_KEY]
        who = await self.principal()
        offset, wrote = 0, False
        self.set_header("Content-Type", "text/plain")
        self.set_header("Cache-Control", "no-cache, private")
        while True:
            data, next_offset, complete, size = await self.ctx.call(
                runs.task_log, who, run_id, node_id, offset
            )
            if not wrote and size == 0 and complete:
                raise not_found(
                    f"no archived log for node {node_id} of run {run_id} (the step wrote none, "
                    "or its log was removed)"
                )
            if data:
                self.write(data)
                await self.flush()
                wrote = True
            if not data or next_offset <= offset or next_offset >= size:
                break
            offset = next_offset
        self.finish()


def archived_log_routes() -> list[tuple[str, type[ApiHandler]]]:
    return [(rf"/apis/v1alpha1/runs/{ID}/nodes/{ID}/log", ArchivedLogHandler)]
