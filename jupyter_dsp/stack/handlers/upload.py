"""The multipart upload endpoints: ``/pipelines/upload`` and ``/pipelines/upload_version``.

The body is streamed (see ApiHandler) with a limit of 32 MB plus the multipart envelope, so
an oversize upload gets a 413 JSON answer. Parsing and validation run on a worker thread.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tornado import httputil

from jupyter_dsp.stack.auth import Principal
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

    async def upload(
        self,
        who: Principal,
        check: Callable[[Principal, Any], Any],
        upload: Callable[..., dict[str, Any]],
        **where: str | None,
    ) -> None:
        """Check that ``who`` may upload where ``where`` says (``namespace=`` or
        ``pipeline_id=``) before the file is parsed, then ``upload`` it there."""
        tags = parse_tags(self.query("tags"))
        (target,) = where.values()
        await self.ctx.call(check, who, target)
        filename, spec = await self.read_file()
        await self.reply_as(
            who,
            upload,
            spec,
            filename=filename,
            name=self.text_query("name"),
            display_name=self.text_query("display_name"),
            description=self.text_query("description"),
            tags=tags,
            **where,
        )

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
        pipelines = self.ctx.pipelines
        namespace = self.query("namespace")
        check, upload = pipelines.check_can_create, pipelines.upload_pipeline
        await self.upload(who, check, upload, namespace=namespace)


class UploadVersionHandler(UploadBase):
    async def post(self) -> None:
        who = await self.principal()
        pipelines = self.ctx.pipelines
        pipeline_id = self.text_query("pipelineid")
        check, upload = pipelines.check_can_add_version, pipelines.upload_version
        await self.upload(who, check, upload, pipeline_id=pipeline_id)


def upload_routes() -> list[tuple[str, type[ApiHandler]]]:
    return [
        (rf"{PREFIX}/pipelines/upload", UploadPipelineHandler),
        (rf"{PREFIX}/pipelines/upload_version", UploadVersionHandler),
    ]
