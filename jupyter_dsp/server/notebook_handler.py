"""``POST {base}dsp/notebooks/spec`` with ``{"path": "dir/prep.ipynb"}``: a notebook of the file
browser compiled into a one-step pipeline, for "Run as pipeline step…" and "Upload as
pipeline…" in JupyterLab. With ``"image"`` (a runtime image's name or an image reference) the
step runs on that image instead of the notebook's own choice. The panel then runs (inline
spec) or uploads (the YAML) through the proxy exactly as for any pipeline; this route talks
to no stack.

The path is relative to the server's root and read through Jupyter's contents manager (so
nothing outside its root, and no hidden file unless the server allows them). Authenticated
and authorized like every ``dsp/`` handler (resource ``dsp``); a browser's POST carries
Jupyter's XSRF token. Answer (200)::

    {"name": str, "file_name": str, "pipeline_spec": {...}, "yaml": str,
     "parameters": [{"name", "type" (KFP's: NUMBER_INTEGER, ...), "required", "default"?}],
     "image": str (the step's), "runtime_images": [{"name", "display_name", "image"}]}

Errors are KFP-shaped ``{"code", "message", "details"}``: 400 no path, not a notebook, a
notebook whose declarations make no step, or an image that is neither a runtime image's name
nor an image reference; 403 a path outside the root; 404 no such file; 413 a notebook beyond
the size a step carries.
"""

from __future__ import annotations

import json

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import authorized
from tornado import web
from tornado.ioloop import IOLoop

from jupyter_dsp.notebooks.one_step import (
    NotebookRefused,
    check_image,
    check_path,
    compile_notebook,
)
from jupyter_dsp.server.handlers import DSPHandler

MAX_BODY = 16 * 1024


class NotebookSpecHandler(DSPHandler):
    @web.authenticated
    @authorized
    async def post(self) -> None:
        try:
            await self._compile()
        except NotebookRefused as exc:
            self.send_kfp_error(exc.status, exc.message)

    def _request(self) -> tuple[str, str | None]:
        if len(self.request.body or b"") > MAX_BODY:
            raise NotebookRefused(413, 'the request is too large: send {"path": ...}')
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError:
            raise NotebookRefused(400, 'the body must be JSON: {"path": "dir/x.ipynb"}') from None
        if not isinstance(body, dict):
            raise NotebookRefused(400, 'the body must be a JSON object: {"path": ...}')
        return check_path(body.get("path", "")), check_image(body.get("image"))

    async def _compile(self) -> None:
        path, image = self._request()
        cm = self.contents_manager
        try:
            model = await ensure_async(cm.get(path, content=True, type="notebook"))
        except web.HTTPError as exc:
            status = exc.status_code if 400 <= exc.status_code < 500 else 404
            if status == 400:
                raise NotebookRefused(400, f"{path} is not a notebook") from None
            raise NotebookRefused(status, f"no notebook at {path}") from None
        compiled = await IOLoop.current().run_in_executor(
            None, compile_notebook, model["content"], path, image
        )
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(compiled.to_json()))  # (scrubbed on the way out)


def notebook_handlers() -> list[tuple[str, type[DSPHandler]]]:
    return [(r"dsp/notebooks/spec", NotebookSpecHandler)]
