"""Run endpoints (KFP v2beta1) and the stack's extensions: task logs and artifact reads.

- ``GET /apis/v2beta1/runs/{run_id}/tasks/{task_id}/logs?offset=N``: ``text/plain`` bytes of
  the task's log from byte ``N``; headers ``X-Log-Next-Offset`` and ``X-Log-Complete``.
- ``GET /apis/v2beta1/runs/{run_id}/nodes/{node_id}/artifacts/{name}:read``:
  ``{"data": <base64 of a .tar.gz of the artifact>}`` as KFP's ReadArtifact (node = task id).
"""

from __future__ import annotations

import base64
from typing import Any

from jupyter_dsp.stack.errors import invalid_argument
from jupyter_dsp.stack.handlers.base import ID, PREFIX, ApiHandler, Schema
from jupyter_dsp.stack.handlers.resource import (
    ActionHandler,
    CollectionHandler,
    ItemHandler,
    ServiceHandler,
)
from jupyter_dsp.stack.runner.service import RunService

SERVICE_KEY = "runs"

RUN_FIELDS: Schema = {
    "experiment_id": str,
    "run_id": str,
    "display_name": str,
    "storage_state": str,
    "description": str,
    "pipeline_version_id": str,
    "pipeline_spec": dict,
    "pipeline_version_reference": dict,
    "runtime_config": dict,
    "service_account": str,
    "created_at": str,
    "scheduled_at": str,
    "finished_at": str,
    "state": str,
    "error": dict,
    "run_details": dict,
    "recurring_run_id": str,
    "state_history": list,
}


class _RunHandler(ServiceHandler):
    def service(self) -> RunService:
        return self.ctx.extras[SERVICE_KEY]


class RunsHandler(CollectionHandler, _RunHandler):
    fields = RUN_FIELDS
    list_query = ("namespace", "experiment_id")
    create_query = ("experiment_id", "namespace")


class RunHandler(ItemHandler, _RunHandler):
    pass


class RunActionHandler(ActionHandler, _RunHandler):
    pass


class TaskLogHandler(_RunHandler):
    async def get(self, run_id: str, task_id: str) -> None:
        who = await self.principal()
        raw = self.query("offset") or "0"
        try:
            offset = int(raw)
        except ValueError:
            raise invalid_argument(f"offset must be an integer, not {raw!r}") from None
        data, next_offset, complete, size = await self.ctx.call(
            self.service().task_log, who, run_id, task_id, offset
        )
        self.set_header("X-Log-Size", str(size))  # lets a reader start at the tail
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.set_header("X-Log-Next-Offset", str(next_offset))
        self.set_header("X-Log-Complete", "true" if complete else "false")
        self.finish(data)


class ArtifactReadHandler(_RunHandler):
    async def get(self, run_id: str, node_id: str, name: str) -> None:
        who = await self.principal()
        data = await self.ctx.call(self.service().read_artifact, who, run_id, node_id, name)
        self.write_json({"data": base64.b64encode(data).decode("ascii")})


def routes(ctx: Any) -> list[tuple[str, type[ApiHandler]]]:
    """Start the runs service on ``ctx`` and return its routes."""
    if SERVICE_KEY not in ctx.extras:
        ctx.extras[SERVICE_KEY] = RunService(ctx)
    return [
        (rf"{PREFIX}/runs", RunsHandler),
        (rf"{PREFIX}/runs/{ID}:(archive|unarchive|terminate|retry)", RunActionHandler),
        (rf"{PREFIX}/runs/{ID}/tasks/([^/]+)/logs", TaskLogHandler),
        (rf"{PREFIX}/runs/{ID}/nodes/([^/]+)/artifacts/([^/:]+):read", ArtifactReadHandler),
        (rf"{PREFIX}/runs/{ID}", RunHandler),
    ]
