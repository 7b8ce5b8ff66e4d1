"""Pipeline and pipeline-version endpoints (JSON ones; uploads are in handlers/upload.py)."""

from __future__ import annotations

from jupyter_dsp.stack.errors import invalid_argument
from jupyter_dsp.stack.handlers.base import (
    ID,
    PREFIX,
    ApiHandler,
    StreamedBodyHandler,
    check_fields,
)
from jupyter_dsp.stack.package_fetch import fetch_package
from jupyter_dsp.stack.pipeline_service import ListParams

PIPELINE_FIELDS: dict[str, type | tuple[type, ...]] = {
    "pipeline_id": str,
    "display_name": str,
    "name": str,
    "description": str,
    "created_at": str,
    "namespace": str,
    "error": dict,
    "tags": dict,
}
VERSION_FIELDS: dict[str, type | tuple[type, ...]] = {
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


class ListingMixin(ApiHandler):
    def list_params(self) -> ListParams:
        return ListParams(
            page_token=self.query("page_token"),
            page_size=self.query("page_size"),
            sort_by=self.query("sort_by"),
            filter=self.query("filter"),
        )


class HealthzHandler(ApiHandler):
    async def get(self) -> None:
        self.write_json({"multi_user": self.ctx.config.multi_user, "pipeline_store": "database"})


class PipelinesHandler(ListingMixin, StreamedBodyHandler):
    async def get(self) -> None:
        who = await self.principal()
        svc = self.ctx.pipelines
        result = await self.ctx.call(
            svc.list_pipelines, who, self.query("namespace"), self.list_params()
        )
        self.write_json(result)

    async def post(self) -> None:
        who = await self.principal()
        body = await self.json_body(PIPELINE_FIELDS)
        result = await self.ctx.call(self.ctx.pipelines.create_pipeline, who, body)
        self.write_json(result)


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
        result = await self.ctx.call(svc.create_pipeline_and_version, who, pipeline, version, spec)
        self.write_json(result)


class PipelineByNameHandler(ApiHandler):
    async def get(self, name: str) -> None:
        who = await self.principal()
        svc = self.ctx.pipelines
        result = await self.ctx.call(svc.get_pipeline_by_name, who, name, self.query("namespace"))
        self.write_json(result)


class PipelineHandler(StreamedBodyHandler):
    async def get(self, pipeline_id: str) -> None:
        who = await self.principal()
        self.write_json(await self.ctx.call(self.ctx.pipelines.get_pipeline, who, pipeline_id))

    async def delete(self, pipeline_id: str) -> None:
        who = await self.principal()
        cascade = self.query_bool("cascade")
        await self.ctx.call(self.ctx.pipelines.delete_pipeline, who, pipeline_id, cascade)
        self.write_json({})

    async def patch(self, pipeline_id: str) -> None:
        who = await self.principal()
        body = await self.json_body(PIPELINE_FIELDS)
        if body.get("pipeline_id") not in (None, "", pipeline_id):
            raise invalid_argument("pipeline_id in the body does not match the path")
        result = await self.ctx.call(self.ctx.pipelines.update_pipeline, who, pipeline_id, body)
        self.write_json(result)


class VersionsHandler(ListingMixin, StreamedBodyHandler):
    async def get(self, pipeline_id: str) -> None:
        who = await self.principal()
        svc = self.ctx.pipelines
        result = await self.ctx.call(svc.list_versions, who, pipeline_id, self.list_params())
        self.write_json(result)

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
        result = await self.ctx.call(
            svc.upload_version,
            who,
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
        self.write_json(result)


class VersionHandler(StreamedBodyHandler):
    async def get(self, pipeline_id: str, version_id: str) -> None:
        who = await self.principal()
        svc = self.ctx.pipelines
        self.write_json(await self.ctx.call(svc.get_version, who, pipeline_id, version_id))

    async def delete(self, pipeline_id: str, version_id: str) -> None:
        who = await self.principal()
        await self.ctx.call(self.ctx.pipelines.delete_version, who, pipeline_id, version_id)
        self.write_json({})

    async def patch(self, pipeline_id: str, version_id: str) -> None:
        who = await self.principal()
        body = await self.json_body(VERSION_FIELDS)
        if body.get("pipeline_id") not in (None, "", pipeline_id) or body.get(
            "pipeline_version_id"
        ) not in (None, "", version_id):
            raise invalid_argument("ids in the body do not match the path")
        svc = self.ctx.pipelines
        result = await self.ctx.call(svc.update_version, who, pipeline_id, version_id, body)
        self.write_json(result)


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
