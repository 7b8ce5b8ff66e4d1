"""Recurring-run endpoints (KFP v2beta1 ``recurringruns``); the logic is in recurring_service."""

from __future__ import annotations

from typing import Any

from jupyter_dsp.stack.handlers.base import ID, PREFIX, ApiHandler, Schema, StreamedBodyHandler
from jupyter_dsp.stack.handlers.pipelines import ListingMixin
from jupyter_dsp.stack.recurring_service import RecurringRunService

SERVICE_KEY = "recurring"
RUNS_KEY = "runs"

RECURRING_RUN_FIELDS: Schema = {
    "recurring_run_id": str,
    "display_name": str,
    "description": str,
    "pipeline_version_id": str,
    "pipeline_spec": dict,
    "pipeline_version_reference": dict,
    "runtime_config": dict,
    "service_account": str,
    "max_concurrency": (str, int),
    "trigger": dict,
    "mode": str,
    "created_at": str,
    "updated_at": str,
    "status": str,
    "error": dict,
    "no_catchup": bool,
    "namespace": str,
    "experiment_id": str,
    "plugins_input": dict,
}


class _Handler(ApiHandler):
    @property
    def recurring(self) -> RecurringRunService:
        return self.ctx.extras[SERVICE_KEY]


class RecurringRunsHandler(ListingMixin, StreamedBodyHandler, _Handler):
    async def get(self) -> None:
        who = await self.principal()
        result = await self.ctx.call(
            self.recurring.list,
            who,
            self.query("namespace"),
            self.query("experiment_id"),
            self.list_params(),
        )
        self.write_json(result)

    async def post(self) -> None:
        who = await self.principal()
        body = await self.json_body(RECURRING_RUN_FIELDS)
        result = await self.ctx.call(self.recurring.create, who, body, self.query("namespace"))
        self.write_json(result)


class RecurringRunHandler(_Handler):
    async def get(self, recurring_run_id: str) -> None:
        who = await self.principal()
        self.write_json(await self.ctx.call(self.recurring.get, who, recurring_run_id))

    async def delete(self, recurring_run_id: str) -> None:
        who = await self.principal()
        await self.ctx.call(self.recurring.delete, who, recurring_run_id)
        self.write_json({})


class RecurringRunActionHandler(_Handler):
    async def post(self, recurring_run_id: str, action: str) -> None:
        who = await self.principal()
        await self.ctx.call(self.recurring.set_enabled, who, recurring_run_id, action == "enable")
        self.write_json({})


def recurring_routes(ctx: Any) -> list[tuple[str, type[ApiHandler]]]:
    """Start the recurring-run service (and its scheduler thread) on ``ctx``; its routes.

    Registered after the run routes (it fires runs through ``ctx.extras["runs"]``). The runs
    service is moved after it in ``ctx.extras`` so that on close the scheduler stops first.
    """
    if SERVICE_KEY not in ctx.extras:
        runs = ctx.extras.pop(RUNS_KEY)
        ctx.extras[SERVICE_KEY] = RecurringRunService(ctx, runs)
        ctx.extras[RUNS_KEY] = runs
    return [
        (rf"{PREFIX}/recurringruns", RecurringRunsHandler),
        (rf"{PREFIX}/recurringruns/{ID}:(enable|disable)", RecurringRunActionHandler),
        (rf"{PREFIX}/recurringruns/{ID}", RecurringRunHandler),
    ]
