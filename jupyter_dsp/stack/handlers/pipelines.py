"""Pipeline and pipeline-version endpoints (JSON ones; uploads are in handlers/upload.py)."""

from __future__ import annotations

from jupyter_dsp.stack.errors import invalid_argument
from jupyter_dsp.stack.handlers.base import (
    ID,
    PREFIX,
    ApiHandler,
    Schema,
    StreamedBodyHandler,
    check_fields,
)
from jupyter_dsp.stack.package_fetch import fetch_package

PIPELINE_FIELDS: Schema = {
    "pipeline_id": str,
    "display_name": str,
    "name": str,
    "description": str,
    "created_at": str,
    "namespace": str,
    "error": dict,
    "tags": dict,
}
VERSION_FIELDS: Schema = {
    "pipeline_id": str,
    "pipeline_version_id": str,
    "display_name": str,
    "name": str,
    "description": str,
    "created_at": str,
    "package_url": dict,
    "code_source_url": str,
    "pipeline_spec": dict,
    "error": dict,
    "tags": dict,
}


class HealthzHandler(ApiHandler):
    async def get(self) -> None:
        self.write_json({"multi_user": self.ctx.config.multi_user, "pipeline_store": "database"})


class PipelinesHandler(StreamedBodyHandler):
    async def get(self) -> None:
        who = await self.principal()
        pipelines = self.ctx.pipelines
        await self.reply_as(
            who, pipelines.list_pipelines, self.query("namespace"), self.list_params()
        )

    async def post(self) -> None:
        who = await self.principal()
        body = await self.json_body(PIPELINE_FIELDS)
        await self.reply_as(who, self.ctx.pipelines.create_pipeline, body)


class CreatePipelineAndVersionHandler(StreamedBodyHandler):
    async def post(self) -> None:
        who = await self.principal()
        body = await self.json_body({"pipeline": dict, "pipeline_version": dict})
        pipeline = body.get("pipeline") or {}
        version = body.get("pipeline_version") or {}
        check_fields(pipeline, PIPELINE_FIELDS, "pipeline")
        check_fields(version, VERSION_FIELDS, "pipeline_version")
        svc = self.ctx.pipelines
        await self.ctx.call(svc.check_can_create, who, pipeline.get("namespace"))
        spec = await self.ctx.call_heavy(fetch_package, version.get("package_url"))
        await self.reply_as(who, svc.create_pipeline_and_version, pipeline, version, spec)


class PipelineByNameHandler(ApiHandler):
    async def get(self, name: str) -> None:
        who = await self.principal()
        pipelines = self.ctx.pipelines
        await self.reply_as(who, pipelines.get_pipeline_by_name, name, self.query("namespace"))


class PipelineHandler(StreamedBodyHandler):
    async def get(self, pipeline_id: str) -> None:
        await self.reply(self.ctx.pipelines.get_pipeline, pipeline_id)

    async def delete(self, pipeline_id: str) -> None:
        who = await self.principal()
        cascade = self.query_bool("cascade")
        await self.reply_as(who, self.ctx.pipelines.delete_pipeline, pipeline_id, cascade)

    async def patch(self, pipeline_id: str) -> None:
        who = await self.principal()
        body = await self.json_body(PIPELINE_FIELDS)
        if body.get("pipeline_id") not in (None, "", pipeline_id):
            raise invalid_argument("pipeline_id in the body does not match the path")
        await self.reply_as(who, self.ctx.pipelines.update_pipeline, pipeline_id, body)


class VersionsHandler(StreamedBodyHandler):
    async def get(self, pipeline_id: str) -> None:
        who = await self.principal()
        await self.reply_as(who, self.ctx.pipelines.list_versions, pipeline_id, self.list_params())

    async def post(self, pipeline_id: str) -> None:
        who = await self.principal()
        body = await self.json_body(VERSION_FIELDS)
        if body.get("pipeline_id") not in (None, "", pipeline_id):
            raise invalid_argument("pipeline_id in the body does not match the path")
        svc = self.ctx.pipelines
        await self.ctx.call(svc.check_can_add_version, who, pipeline_id)
        package_url = body.get("package_url")
        spec = await self.ctx.call_heavy(fetch_package, package_url)
        url = package_url.get("pipeline_url", "") if isinstance(package_url, dict) else ""
        await self.reply_as(
            who,
            svc.upload_version,
            spec,
            pipeline_id=pipeline_id,
            filename=url.rsplit("/", 1)[-1],
            name=body.get("name") or "",
            display_name=body.get("display_name") or "",
            description=body.get("description") or "",
            tags=body.get("tags"),
            package_url=url,
            code_source_url=body.get("code_source_url") or "",
        )


class VersionHandler(StreamedBodyHandler):
    async def get(self, pipeline_id: str, version_id: str) -> None:
        await self.reply(self.ctx.pipelines.get_version, pipeline_id, version_id)

    async def delete(self, pipeline_id: str, version_id: str) -> None:
        await self.reply(self.ctx.pipelines.delete_version, pipeline_id, version_id)

    async def patch(self, pipeline_id: str, version_id: str) -> None:
        who = await self.principal()
        body = await self.json_body(VERSION_FIELDS)
        if body.get("pipeline_id") not in (None, "", pipeline_id) or body.get(
            "pipeline_version_id"
        ) not in (None, "", version_id):
            raise invalid_argument("ids in the body do not match the path")
        await self.reply_as(who, self.ctx.pipelines.update_version, pipeline_id, version_id, body)


def pipeline_routes() -> list[tuple[str, type[ApiHandler]]]:
    return [
        (rf"{PREFIX}/healthz", HealthzHandler),
        (rf"{PREFIX}/pipelines", PipelinesHandler),
        (rf"{PREFIX}/pipelines/create", CreatePipelineAndVersionHandler),
        (rf"{PREFIX}/pipelines/names/([^/]+)", PipelineByNameHandler),
        (rf"{PREFIX}/pipelines/{ID}", PipelineHandler),
        (rf"{PREFIX}/pipelines/{ID}/versions", VersionsHandler),
        (rf"{PREFIX}/pipelines/{ID}/versions/{ID}", VersionHandler),
    ]
