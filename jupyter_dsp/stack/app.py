"""The tornado application of the embedded stack: every route, in one list."""

from __future__ import annotations

from tornado import web

from jupyter_dsp.stack.context import StackContext
from jupyter_dsp.stack.handlers.archived_logs import archived_log_routes
from jupyter_dsp.stack.handlers.artifacts import artifact_routes
from jupyter_dsp.stack.handlers.base import NotFoundHandler
from jupyter_dsp.stack.handlers.experiments import experiment_routes
from jupyter_dsp.stack.handlers.pipelines import pipeline_routes
from jupyter_dsp.stack.handlers.recurring import recurring_routes
from jupyter_dsp.stack.handlers.runs import run_routes
from jupyter_dsp.stack.handlers.upload import upload_routes

# Streamed handlers set their own limits (handlers/base.py StreamedBodyHandler); this is
# the limit for the others.
MAX_BODY = 4 * 1024 * 1024


def make_app(ctx: StackContext) -> web.Application:
    routes = [
        *upload_routes(),
        *pipeline_routes(),
        *experiment_routes(),
        *run_routes(ctx),
        *artifact_routes(ctx),  # after run_routes: uses the runs service
        *archived_log_routes(),  # KFP's v1alpha1 run log endpoint, over the runs service
    ]
    routes += recurring_routes(ctx)  # after the runs: it fires runs through their service
    handlers = [(pattern, handler, {"ctx": ctx}) for pattern, handler in routes]
    return web.Application(
        handlers,  # type: ignore[arg-type]
        default_handler_class=NotFoundHandler,
        default_handler_args={"ctx": ctx},
        compress_response=False,
    )
