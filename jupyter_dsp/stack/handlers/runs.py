"""THE place where run endpoints are registered: :func:`run_routes`.

Until the runs part lands, every run, recurring-run and run-extension endpoint answers
501 in KFP's error shape (after authenticating, so a bad token still gets 401). The runs
engineer replaces the body of :func:`run_routes` (and may add modules next to this one);
:func:`jupyter_dsp.stack.app.make_app` calls it once and registers what it returns.
"""

from __future__ import annotations

from typing import Any

from jupyter_dsp.stack.context import StackContext
from jupyter_dsp.stack.errors import unimplemented
from jupyter_dsp.stack.handlers.base import ApiHandler

PREFIX = r"/apis/v2beta1"


class RunsNotImplementedHandler(ApiHandler):
    async def _refuse(self, *args: Any) -> None:
        await self.principal()
        raise unimplemented("Runs are not implemented by this embedded stack yet")

    get = post = delete = patch = put = _refuse


def run_routes(ctx: StackContext) -> list[tuple[str, type[ApiHandler]]]:
    """Routes for runs, recurring runs, task logs and artifacts (ctx is for the real ones)."""
    del ctx
    return [
        (rf"{PREFIX}/runs(?:/.*)?", RunsNotImplementedHandler),
        (rf"{PREFIX}/recurringruns(?:/.*)?", RunsNotImplementedHandler),
    ]
