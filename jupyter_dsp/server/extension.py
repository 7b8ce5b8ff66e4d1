"""The Jupyter server extension: ``dsp/info``, ``dsp/logs/...`` and the ``dsp/api/...`` proxy."""

from __future__ import annotations

import atexit
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from tornado.ioloop import IOLoop

from jupyter_dsp.connection import DSPSettings
from jupyter_dsp.connection.embedded import announce_starting, clear_starting, data_dir
from jupyter_dsp.server.changes import ChangeFeed
from jupyter_dsp.server.changes_handler import FEED_SETTING, changes_handlers, feed_of
from jupyter_dsp.server.diff import diff_handlers
from jupyter_dsp.server.handlers import InfoHandler, LogsHandler, UnknownSpaceHandler
from jupyter_dsp.server.notebook_handler import notebook_handlers
from jupyter_dsp.server.proxy_handler import ProxyHandler
from jupyter_dsp.server.results import result_handlers
from jupyter_dsp.server.state import DSPState


class DSPExtension(ExtensionApp):
    """Connects Jupyter to the project namespace's Kubeflow Pipelines stack."""

    name = "jupyter_dsp"
    load_other_extensions = True
    classes = [DSPSettings]

    state: DSPState | None = None

    def initialize_settings(self) -> None:
        # the server's own config (c.DSPSettings in jupyter_server_config) is merged over the
        # jupyter_dsp_config files; JUPYTER_DSP_* variables win over both
        parent_config: Any = self.serverapp.config if self.serverapp is not None else self.config
        load_error = None
        try:
            settings = DSPSettings.load(parent_config)
        except ValueError as exc:  # a bad JUPYTER_DSP_* value: keep serving, say what is wrong
            self.log.error("jupyter-dsp: %s", exc)
            settings, load_error = DSPSettings(), str(exc)
        self.state = DSPState(settings, self.log, load_error=load_error)
        self.settings["jupyter_dsp_state"] = self.state
        self.settings[FEED_SETTING] = feed_of({}, self.state)  # dsp/changes' one upstream poll
        atexit.register(self._stop_owned_stack)
        if self.state.embedded is not None:
            # start the embedded stack now, in the background: a kernel's `%dsp` must work
            # before anyone opens the panel (kernels wait while the starting file exists)
            announce_starting(data_dir(settings))
            IOLoop.current().add_callback(self._start_embedded)

    async def _start_embedded(self) -> None:
        if self.state is None:
            return
        try:
            await self.state.connection()
        except Exception as exc:  # noqa: BLE001 - logged; the next request tries again
            self.log.warning("jupyter-dsp: the embedded stack did not start: %s", exc)
            clear_starting()

    def initialize_handlers(self) -> None:
        self.handlers.extend(
            [
                (r"dsp/info", InfoHandler),
                (r"dsp/logs/([^/]+)/([^/]+)", LogsHandler),
                *result_handlers(),  # dsp/results/{run}, dsp/artifacts/{run}/{artifact}
                *diff_handlers(),  # dsp/diff?pipeline_id=&v1=&v2= (version diff)
                *changes_handlers(),  # dsp/changes?watch=&since= (the live panel's long poll)
                *notebook_handlers(),  # dsp/notebooks/spec (a notebook as a one-step pipeline)
                (r"dsp/api/(?P<space>project|shared|managed|local)/(?P<path>.*)", ProxyHandler),
                (r"dsp/api/(?P<space>[^/]*)(?:/.*)?", UnknownSpaceHandler),
            ]
        )

    async def stop_extension(self) -> None:
        feed = self.settings.get(FEED_SETTING)
        if isinstance(feed, ChangeFeed):
            feed.close()
        if self.state is not None:
            await self.state.stop()

    def _stop_owned_stack(self) -> None:
        """Last resort at interpreter exit: never leave an owned stack running."""
        if self.state is not None and self.state.embedded is not None:
            self.state.embedded.stop()
        if self.state is not None and self.state.local.manager is not None:
            self.state.local.manager.stop()
