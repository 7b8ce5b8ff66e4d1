"""Experiment endpoints."""

from __future__ import annotations

from typing import Any

from jupyter_dsp.stack.handlers.base import ID, PREFIX, ApiHandler, Schema
from jupyter_dsp.stack.handlers.resource import (
    ActionHandler,
    CollectionHandler,
    ItemHandler,
    ServiceHandler,
)

EXPERIMENT_FIELDS: Schema = {
    "experiment_id": str,
    "display_name": str,
    "description": str,
    "created_at": str,
    "namespace": str,
    "storage_state": str,
    "last_run_created_at": str,
}


class _Experiments(ServiceHandler):
    def service(self) -> Any:
        return self.ctx.experiments


class ExperimentsHandler(CollectionHandler, _Experiments):
    fields = EXPERIMENT_FIELDS


class ExperimentHandler(ItemHandler, _Experiments):
    pass


class ExperimentActionHandler(ActionHandler, _Experiments):
    pass


def experiment_routes() -> list[tuple[str, type[ApiHandler]]]:
    return [
        (rf"{PREFIX}/experiments", ExperimentsHandler),
        (rf"{PREFIX}/experiments/{ID}:(archive|unarchive)", ExperimentActionHandler),
        (rf"{PREFIX}/experiments/{ID}", ExperimentHandler),
    ]
