"""``GET {base}dsp/diff?pipeline_id=P&v1=OLD&v2=NEW&space=project|shared``: what changed
between two versions of a pipeline, for the panel's diff view.

``v1``/``v2`` are pipeline version ids; both omitted means the pipeline's two latest versions
(``v1`` the older). ``space`` defaults to ``project`` (a project pipeline or a shared one read
from the project); the pipeline must be readable through that space exactly as the proxy
allows (403 for another namespace's). Authenticated and authorized like every ``dsp/``
handler (resource ``dsp``, read). Answer (200)::

    {"pipeline_id": str, "pipeline_name": str,
     "old": {"pipeline_version_id", "display_name", "created_at"},
     "new": {"pipeline_version_id", "display_name", "created_at"},
     ...the fields of jupyter_dsp.common.spec_diff.diff_specs:
     "changed", "summary", "parameters", "components", "dag"}

Errors are KFP-shaped ``{"code", "message", "details"}``: 400 for a bad query (a parameter
given twice, only one of v1/v2, a pipeline with fewer than two versions), 404 unknown
pipeline or version, 403 another namespace's pipeline.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from jupyter_server.auth.decorator import authorized
from tornado import web

from jupyter_dsp.common.spec_diff import diff_specs
from jupyter_dsp.server import routes
from jupyter_dsp.server.deadline import whole_request
from jupyter_dsp.server.errors import ProxyError
from jupyter_dsp.server.handlers import DSPHandler

API = "/apis/v2beta1"


class DiffHandler(DSPHandler):
    @web.authenticated
    @authorized
    @whole_request
    async def get(self) -> None:
        try:
            await self._diff()
        except ProxyError as exc:
            self.send_kfp_error(exc.status, exc.message)

    async def _diff(self) -> None:
        pipeline_id, v1, v2 = self.one("pipeline_id"), self.one("v1"), self.one("v2")
        space_name = self.one("space") or "project"
        if space_name not in ("project", "shared", "managed"):
            raise ProxyError(400, "space must be project, shared or managed")
        if not pipeline_id or not routes.ID.match(pipeline_id):
            raise ProxyError(400, "pipeline_id (a pipeline id) is required")
        if bool(v1) != bool(v2):
            raise ProxyError(400, "give both v1 and v2, or neither (the two latest versions)")
        for value in (v1, v2):
            if value and not routes.ID.match(value):
                raise ProxyError(404, f"unknown pipeline version {value[:80]!r}")
        conn = await self.connection_or_error()
        if conn is None:
            return
        space = conn.space(space_name)
        if space is None:
            raise ProxyError(404, f"the {space_name} space is not available")
        await self.check_read(conn, space, f"apis/v2beta1/pipelines/{pipeline_id}")
        pipeline = await self.get_json(conn, space, f"{API}/pipelines/{quote(pipeline_id)}")
        base = f"{API}/pipelines/{quote(pipeline_id)}/versions"
        if not v1:
            listed = await self.get_json(
                conn, space, f"{base}?page_size=2&sort_by=created_at%20desc"
            )
            versions = listed.get("pipeline_versions") or []
            if len(versions) < 2:
                raise ProxyError(
                    400,
                    f"pipeline {pipeline_id} has {len(versions)} version(s): nothing to compare",
                )
            v2, v1 = versions[0]["pipeline_version_id"], versions[1]["pipeline_version_id"]
        old = await self.get_json(conn, space, f"{base}/{quote(v1)}")
        new = await self.get_json(conn, space, f"{base}/{quote(v2)}")
        result = {
            "pipeline_id": pipeline_id,
            "pipeline_name": pipeline.get("display_name") or pipeline.get("name") or "",
            "old": _version_head(old),
            "new": _version_head(new),
            **diff_specs(old.get("pipeline_spec"), new.get("pipeline_spec")),
        }
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(result))  # (scrubbed on the way out, server/egress.py)


def _version_head(version: dict[str, Any]) -> dict[str, Any]:
    return {
        "pipeline_version_id": version.get("pipeline_version_id", ""),
        "display_name": version.get("display_name") or version.get("name") or "",
        "created_at": version.get("created_at", ""),
    }


def diff_handlers() -> list[tuple[str, type[DSPHandler]]]:
    return [(r"dsp/diff", DiffHandler)]
