"""Recurring-run endpoints (KFP v2beta1 ``recurringruns``); the logic is in recurring_service."""

from __future__ import annotations

from typing import Any

from jupyter_dsp.stack.handlers.base import ID, PREFIX, ApiHandler, Schema
from jupyter_dsp.stack.handlers.resource import (
    ActionHandler,
    CollectionHandler,
    ItemHandler,
    ServiceHandler,
)
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


class _Recurring(ServiceHandler):
    def service(self) -> RecurringRunService:
        return self.ctx.extras[SERVICE_KEY]


class RecurringRunsHandler(CollectionHandler, _Recurring):
    fields = RECURRING_RUN_FIELDS
    list_query = ("namespace", "experiment_id")
    create_query = ("namespace",)


class RecurringRunHandler(ItemHandler, _Recurring):
    pass


class RecurringRunActionHandler(ActionHandler, _Recurring):
    pass


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
