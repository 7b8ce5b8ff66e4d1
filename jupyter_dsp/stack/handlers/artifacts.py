"""Artifact endpoints: the read side of KFP master's v2beta1 artifact API, plus content.

- ``GET /apis/v2beta1/artifacts?namespace=&run_id=&page_size=&page_token=``
- ``GET /apis/v2beta1/artifacts/{artifact_id}``
- ``GET /apis/v2beta1/artifacts/{artifact_id}/content``: the bytes, streamed; ``Range:
  bytes=START-END`` (one range) gives a 206; a read larger than the cap
  (``JUPYTER_DSP_STACK_MAX_READ_BYTES``, default 1 GiB) is a 413, a range that cannot be
  satisfied a 416 (with ``Content-Range: bytes */SIZE``). A directory comes as a tar.
- ``GET /apis/v2beta1/artifact_tasks?run_ids=&task_ids=&artifact_ids=&type=``
- ``GET /apis/v2beta1/tasks?run_id=``: the run's tasks as master's ``PipelineTaskDetail``.

Errors are KFP's error JSON; authorization as for runs (view on the run's namespace).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from tornado.iostream import StreamClosedError

from jupyter_dsp.stack.handlers.base import ID, PREFIX, ApiHandler
from jupyter_dsp.stack.results_service import ReadTooLarge, ResultsService

SERVICE_KEY = "results"
RUNS_KEY = "runs"


class _ResultsHandler(ApiHandler):
    @property
    def results(self) -> ResultsService:
        return self.ctx.extras[SERVICE_KEY]


class ArtifactsHandler(_ResultsHandler):
    async def get(self) -> None:
        who = await self.principal()
        params = self.list_params()
        await self.reply_as(
            who,
            self.results.list_artifacts,
            self.query("namespace"),
            self.query("run_id"),
            params.page_size,
            params.page_token,
            params.sort_by,
            params.filter,
        )


class ArtifactHandler(_ResultsHandler):
    async def get(self, artifact_id: str) -> None:
        await self.reply(self.results.get_artifact, artifact_id)


class ArtifactContentHandler(_ResultsHandler):
    async def get(self, artifact_id: str) -> None:
        who = await self.principal()
        content = await self.ctx.call(
            self.results.open_content, who, artifact_id, self.request.headers.get("Range")
        )
        plan = content.plan
        self.set_status(plan.status)
        self.set_header("Content-Type", content.content_type)
        self.set_header("Content-Length", str(plan.length))
        self.set_header("Accept-Ranges", "bytes")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header(
            "Content-Disposition", f"attachment; filename*=UTF-8''{quote(content.filename)}"
        )
        if plan.content_range:
            self.set_header("Content-Range", plan.content_range)
        try:
            for chunk in content.chunks():
                self.write(chunk)
                await self.flush()
        except StreamClosedError:
            return  # the client went away
        self.finish()

    def write_api_error(self, error: Any) -> None:
        if self._headers_written:
            self.finish()  # mid-stream: the short body tells the client
            return
        self.clear()
        self.set_default_headers()
        self.set_status(error.http_status)
        if isinstance(error, ReadTooLarge) and error.http_status == 416:
            self.set_header("Content-Range", f"bytes */{error.size}")
        self.finish(json.dumps(error.to_status()))


class ArtifactTasksHandler(_ResultsHandler):
    async def get(self) -> None:
        who = await self.principal()
        params = self.list_params()
        await self.reply_as(
            who,
            self.results.list_artifact_tasks,
            self.get_query_arguments("run_ids"),
            self.get_query_arguments("task_ids"),
            self.get_query_arguments("artifact_ids"),
            self.query("type"),
            params.page_size,
            params.page_token,
        )


class TasksHandler(_ResultsHandler):
    async def get(self) -> None:
        who = await self.principal()
        params = self.list_params()
        await self.reply_as(
            who, self.results.list_tasks, self.query("run_id"), params.page_size, params.page_token
        )


def artifact_routes(ctx: Any) -> list[tuple[str, type[ApiHandler]]]:
    """Start the results service on ``ctx`` (after the runs service) and return its routes."""
    if SERVICE_KEY not in ctx.extras:
        ctx.extras[SERVICE_KEY] = ResultsService(ctx, ctx.extras[RUNS_KEY])
    return [
        (rf"{PREFIX}/artifacts", ArtifactsHandler),
        (rf"{PREFIX}/artifacts/{ID}/content", ArtifactContentHandler),
        (rf"{PREFIX}/artifacts/{ID}", ArtifactHandler),
        (rf"{PREFIX}/artifact_tasks", ArtifactTasksHandler),
        (rf"{PREFIX}/tasks", TasksHandler),
    ]
