"""The spaces of a :class:`~jupyter_dsp.client.DSPClient` and one ``kfp.Client`` per space.

The bottom layer of the client: :class:`~jupyter_dsp.client.pipelines.PipelineOperations`,
:class:`~jupyter_dsp.client.runs.RunOperations`,
:class:`~jupyter_dsp.client.run_logs.LogOperations` and
:class:`~jupyter_dsp.client.lifecycle.LifecycleOperations` build on it, in that order.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from jupyter_dsp.client.errors import ArgumentError, DSPError, api_errors
from jupyter_dsp.client.spaces import (
    MANAGED,
    PROJECT,
    SHARED,
    SpaceLike,
    describe_endpoint,
    make_kfp_client,
)


class SpaceAccess:
    """The project, shared and managed spaces of a client, their ``kfp.Client`` objects and
    how each is named in messages."""

    default_experiment = "Default"
    poll_interval = 1.0
    # how much of a task's log `logs()` / `%dsp logs` show (the tail); JUPYTER_DSP_LOG_TAIL_BYTES
    log_tail_bytes = int(os.environ.get("JUPYTER_DSP_LOG_TAIL_BYTES", "") or 1_000_000)

    def __init__(
        self,
        project: SpaceLike,
        shared: SpaceLike | None = None,
        *,
        mode: str = "configured",
        identity: str = "",
        policy: str = "read-write",
    ) -> None:
        self.project = project
        self.shared = shared
        self.managed: SpaceLike | None = None  # see spaces.MANAGED
        self.mode = mode
        self.identity = identity
        self.policy = policy
        self.namespace = project.namespace
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._experiments: dict[str, str] = {}
        self.connection: Any = None  # the Connection it was made from, when known

    # ---- kfp.Client per space ---------------------------------------------------------------

    def space(self, name: str) -> SpaceLike:
        if name == PROJECT:
            return self.project
        if name == SHARED:
            if self.shared is None:
                raise DSPError(
                    f"The shared space is off (policy {self.policy}).",
                    hint="Use the project space, or ask your admin to enable shared pipelines.",
                )
            return self.shared
        if name == MANAGED and self.managed is not None:
            return self.managed
        raise ArgumentError(f"Unknown space {name!r}: use 'project' or 'shared'.")

    def kfp_client(self, space: str = PROJECT) -> Any:
        """The ``kfp.Client`` of ``space`` (created on first use)."""
        target = self.space(space)
        with self._lock:
            client = self._clients.get(space)
            if client is None:
                with api_errors("Connecting", self._where(space)):
                    client = make_kfp_client(target, self.namespace)
                self._clients[space] = client
        return client

    @property
    def kfp(self) -> Any:
        return self.kfp_client(PROJECT)

    @property
    def kfp_shared(self) -> Any:
        return self.kfp_client(SHARED) if self.shared is not None else None

    def project_get(
        self,
        action: str,
        path: str,
        *,
        path_params: dict[str, str] | None = None,
        query: list[tuple[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """A GET of ``path`` on the project's stack through its ``kfp.Client`` (its token,
        its TLS): the urllib3 response, body not read yet (release it when done). Failures
        are :class:`DSPError` saying what was being done (``action``) and where."""
        with api_errors(action, self._where(PROJECT)):
            return self.kfp.runs.api_client.call_api(
                path,
                "GET",
                path_params=path_params or {},
                query_params=query or [],
                header_params=headers or {},
                auth_settings=["Bearer"],
                _preload_content=False,
                _return_http_data_only=True,
            )

    def _where(self, space: str) -> str:
        if space == MANAGED and self.managed is not None:
            return f"the platform's managed pipelines at {describe_endpoint(self.managed)}"
        target = self.project if space == PROJECT else self.shared
        if target is None:
            return space
        label = f"namespace {self.namespace!r}" if space == PROJECT else "the shared space"
        return f"{label} at {describe_endpoint(target)}"

    @property
    def single_user(self) -> bool:
        """The project's stack said (healthz) it is single-user: it knows no namespaces."""
        known = getattr(self.project, "health_error", None) is None
        return known and getattr(self.project, "multi_user", True) is False

    def _ns(self, space: str) -> str | None:
        """Namespace query value for ``space``: none for shared (that is what makes it shared),
        none on a single-user stack (which refuses namespace filters)."""
        if space != PROJECT or self.single_user:
            return None
        return self.namespace or None

    def _writable(self, space: str) -> None:
        target = self.space(space)
        if not target.writable:
            raise DSPError(
                f"The {space} space is read-only here (policy {self.policy}).",
                hint="Upload privately to your project instead (omit --shared).",
            )
