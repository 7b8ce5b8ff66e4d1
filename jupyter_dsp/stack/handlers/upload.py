"""The multipart upload endpoints: ``/pipelines/upload`` and ``/pipelines/upload_version``.

The body is streamed (see ApiHandler) with a limit of 32 MB plus the multipart envelope, so
an oversize upload gets a 413 JSON answer. Parsing and validation run on a worker thread.
"""

from __future__ import annotations

import json
from typing import Any

from tornado import httputil

from jupyter_dsp.stack.errors import invalid_argument
from jupyter_dsp.stack.handlers.base import PREFIX, ApiHandler, StreamedBodyHandler
from jupyter_dsp.stack.pipelinespec import MAX_PACKAGE_BYTES, ParsedSpec, parse_upload

FORM_FIELD = "uploadfile"
ENVELOPE_SLACK = 256 * 1024  # multipart headers and boundaries around the file


def parse_multipart(content_type: str, body: bytes) -> tuple[str, bytes]:
    """The uploaded file's name and bytes (field ``uploadfile``)."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise invalid_argument(
            "Failed to read pipeline from file: the request must be multipart/form-data"
            f" with the file in field {FORM_FIELD!r}"
        )
    arguments: dict[str, list[bytes]] = {}
    files: dict[str, list[httputil.HTTPFile]] = {}
    try:
        httputil.parse_body_arguments(content_type, body, arguments, files)
    except httputil.HTTPInputError as exc:
        raise invalid_argument(
            f"Failed to read pipeline from file: the multipart/form-data body is malformed ({exc})"
        ) from None
    uploaded = files.get(FORM_FIELD)
    if not uploaded:
        raise invalid_argument(
            f"Failed to read pipeline from file: no file in multipart field {FORM_FIELD!r}"
        )
    return uploaded[0].filename or "", uploaded[0].body


def parse_tags(raw: str | None) -> dict[str, str]:
    if not raw:
        return {}
    try:
        tags = json.loads(raw)
    except ValueError:
        tags = None
    if not isinstance(tags, dict):
        raise invalid_argument(
            "Failed to parse tags query parameter. Expected JSON object with string keys and values"
        )
    return tags


def read_upload(content_type: str, body: bytes) -> tuple[str, ParsedSpec]:
    filename, data = parse_multipart(content_type, body)
    return filename, parse_upload(filename, data)


class UploadBase(StreamedBodyHandler):
    upload_error_shape = True
    body_limit = MAX_PACKAGE_BYTES + ENVELOPE_SLACK

    async def read_file(self) -> tuple[str, ParsedSpec]:
        body = self.body()
        self._chunks = []
        content_type = self.request.headers.get("Content-Type", "")
        return await self.ctx.call_heavy(read_upload, content_type, body)

    def text_query(self, name: str) -> str:
        """A query parameter exactly as sent, as KFP reads it: tornado's own accessors strip
        surrounding white space and replace control characters, which would store another name
        than the one the user gave."""
        values = self.request.query_arguments.get(name)
        if not values:
            return ""
        try:
            return values[-1].decode("utf-8")
        except UnicodeDecodeError:
            raise invalid_argument(f"Query parameter {name!r} is not valid UTF-8") from None


class UploadPipelineHandler(UploadBase):
    async def post(self) -> None:
        who = await self.principal()
        svc = self.ctx.pipelines
        namespace = self.query("namespace")
        tags = parse_tags(self.query("tags"))
        await self.ctx.call(svc.check_can_create, who, namespace)
        filename, spec = await self.read_file()
        result = await self.ctx.call(
            svc.upload_pipeline,
            who,
            spec,
            filename=filename,
            name=self.text_query("name"),
            display_name=self.text_query("display_name"),
            description=self.text_query("description"),
            namespace=namespace,
            tags=tags,
        )
        self.write_json(result)


class UploadVersionHandler(UploadBase):
    async def post(self) -> None:
        who = await self.principal()
        svc = self.ctx.pipelines
        pipeline_id = self.text_query("pipelineid")
        tags = parse_tags(self.query("tags"))
        await self.ctx.call(svc.check_can_add_version, who, pipeline_id)
        filename, spec = await self.read_file()
        result: dict[str, Any] = await self.ctx.call(
            svc.upload_version,
            who,
            spec,
            pipeline_id=pipeline_id,
            filename=filename,
            name=self.text_query("name"),
            display_name=self.text_query("display_name"),
            description=self.text_query("description"),
            tags=tags,
        )
        self.write_json(result)


def upload_routes() -> list[tuple[str, type[ApiHandler]]]:
    return [
        (rf"{PREFIX}/pipelines/upload", UploadPipelineHandler),
        (rf"{PREFIX}/pipelines/upload_version", UploadVersionHandler),
    ]
