"""THE place where run endpoints are registered: :func:`run_routes`.

Until the runs part lands, every run and recurring-run endpoint answers 501 in KFP's error
shape (after authenticating, so a bad token still gets 401). The runs engineer replaces the
body of :func:`run_routes` (and may add modules next to this one);
:func:`jupyter_dsp.stack.app.make_app` calls it once, after the pipeline and experiment
routes, and registers what it returns (each handler gets ``ctx`` via ``initialize``).

What the stack offers the runs part (all in :class:`jupyter_dsp.stack.context.StackContext`):

- ``await self.principal()`` in a handler: the caller (401 if the token is bad);
  ``ctx.access.check_read(who, ns)`` / ``check_write(who, ns)``: 403 as for pipelines;
  ``ctx.experiments.namespace(raw)`` resolves a request's namespace (default namespace when
  empty, ``""`` in single-user mode).
- ``await ctx.call(fn, ...)`` runs SQLite work on a worker thread; ``ctx.db.conn()`` is that
  thread's connection; ``jupyter_dsp.stack.db.write_transaction(conn)`` commits before the
  answer. New tables: ``jupyter_dsp.stack.db.register_migration(Migration(2, ...))``.
- ``ctx.pipeline_store.get_version(version_id)`` -> row with ``spec_yaml`` (the uploaded
  text, whole) and ``pipeline_id``; ``ctx.pipeline_store.latest_version(pipeline_id)``;
  ``ctx.experiment_store.get(experiment_id)`` -> row with ``namespace``.
- Lists: ``jupyter_dsp.stack.listing`` (``Listable``, ``parse_list_request``, ``run_list``,
  ``Page.to_json``) gives the same page_size / page_token / sort_by / filter semantics.
- Errors: raise ``jupyter_dsp.stack.errors`` helpers (``not_found`` ...); JSON bodies via
  ``await self.json_body(schema)`` (``StreamedBodyHandler`` for a 413 on big bodies).
"""

from __future__ import annotations

from jupyter_dsp.stack.context import StackContext
from jupyter_dsp.stack.handlers.base import ApiHandler
from jupyter_dsp.stack.runner import routes as runner_routes  # registers the runs migration


def run_routes(ctx: StackContext) -> list[tuple[str, type[ApiHandler]]]:
    """Routes for runs, task logs and artifacts (jupyter_dsp.stack.runner); recurring runs are
    in handlers/recurring.py."""
    return [*runner_routes.routes(ctx)]
