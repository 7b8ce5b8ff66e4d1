"""Experiment endpoints."""

from __future__ import annotations

from jupyter_dsp.stack.handlers.base import ID, PREFIX, ApiHandler, StreamedBodyHandler
from jupyter_dsp.stack.handlers.pipelines import ListingMixin

EXPERIMENT_FIELDS: dict[str, type | tuple[type, ...]] = {
    "experiment_id": str,
    "display_name": str,
    "description": str,
    "created_at": str,
    "namespace": str,
    "storage_state": str,
    "last_run_created_at": str,
}


class ExperimentsHandler(ListingMixin, StreamedBodyHandler):
    async def get(self) -> None:
        who = await self.principal()
        svc = self.ctx.experiments
        result = await self.ctx.call(svc.list, who, self.query("namespace"), self.list_params())
        self.write_json(result)

    async def post(self) -> None:
        who = await self.principal()
        body = await self.json_body(EXPERIMENT_FIELDS)
        self.write_json(await self.ctx.call(self.ctx.experiments.create, who, body))


class ExperimentHandler(ApiHandler):
    async def get(self, experiment_id: str) -> None:
        who = await self.principal()
        self.write_json(await self.ctx.call(self.ctx.experiments.get, who, experiment_id))

    async def delete(self, experiment_id: str) -> None:
        who = await self.principal()
        await self.ctx.call(self.ctx.experiments.delete, who, experiment_id)
        self.write_json({})


class ArchiveExperimentHandler(ApiHandler):
    async def post(self, experiment_id: str) -> None:
        who = await self.principal()
        await self.ctx.call(self.ctx.experiments.archive, who, experiment_id)
        self.write_json({})


class UnarchiveExperimentHandler(ApiHandler):
    async def post(self, experiment_id: str) -> None:
        who = await self.principal()
        await self.ctx.call(self.ctx.experiments.unarchive, who, experiment_id)
        self.write_json({})


def experiment_routes() -> list[tuple[str, type[ApiHandler]]]:
    return [
        (rf"{PREFIX}/experiments", ExperimentsHandler),
        (rf"{PREFIX}/experiments/{ID}:archive", ArchiveExperimentHandler),
        (rf"{PREFIX}/experiments/{ID}:unarchive", UnarchiveExperimentHandler),
        (rf"{PREFIX}/experiments/{ID}", ExperimentHandler),
    ]
