"""DSPClient: the operations magics, widgets and users share, over one ``kfp.Client`` per space."""

from __future__ import annotations

import os
import threading
from typing import Any

from jupyter_dsp.client.compiling import (
    CompiledPipeline,
    compile_source,
)
from jupyter_dsp.client.errors import ArgumentError, DSPError, api_errors
from jupyter_dsp.client.lifecycle import LifecycleOperations
from jupyter_dsp.client.models import ConnectionInfo
from jupyter_dsp.client.pipelines import PipelineOperations
from jupyter_dsp.client.runs import RunOperations
from jupyter_dsp.client.spaces import (
    MANAGED,
    PROJECT,
    SHARED,
    SpaceLike,
    describe_endpoint,
    make_kfp_client,
)


class DSPClient(PipelineOperations, RunOperations, LifecycleOperations):
    """Pipelines in a project namespace and in the shared space of a KFP (or embedded) stack.

    ``client.kfp`` and ``client.kfp_shared`` are ready ``kfp.Client`` objects for anything
    not wrapped here.
    """

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

    # ---- construction -------------------------------------------------------------------

    @classmethod
    def from_connection(cls, conn: Any) -> DSPClient:
        """From a :class:`jupyter_dsp.connection.Connection`."""
        client = cls(
            conn.project,
            conn.shared,
            mode=conn.mode,
            identity=conn.identity,
            policy=conn.policy,
        )
        client.connection = conn  # the cluster results readers discover ML Metadata from it
        client.managed = getattr(conn, "managed", None)
        return client

    @classmethod
    def from_endpoint(
        cls,
        endpoint: str,
        token: str | None = None,
        *,
        namespace: str = "default",
        token_file: str | None = None,
        shared_endpoint: str | None = None,
        shared_token: str | None = None,
        shared: bool = True,
        shared_writable: bool = True,
        ca_bundle: str | None = None,
        identity: str = "",
    ) -> DSPClient:
        """Connect straight to a stack URL (the shared space defaults to the same stack)."""
        from jupyter_dsp.client.spaces import StaticSpace

        endpoint = endpoint.rstrip("/")
        project = StaticSpace(
            PROJECT, endpoint, namespace, ca_bundle, True, True, token, token_file
        )
        shared_space = None
        if shared:
            shared_space = StaticSpace(
                SHARED,
                (shared_endpoint or endpoint).rstrip("/"),
                "",
                ca_bundle,
                True,
                shared_writable,
                shared_token if shared_token is not None else token,
                None if shared_token is not None else token_file,
            )
        policy = ("read-write" if shared_writable else "read-only") if shared else "off"
        return cls(project, shared_space, mode="configured", identity=identity, policy=policy)

    def __repr__(self) -> str:
        shared = describe_endpoint(self.shared) if self.shared else "off"
        return (
            f"<DSPClient namespace={self.namespace!r} project={describe_endpoint(self.project)} "
            f"shared={shared}>"
        )

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

    # ---- info ---------------------------------------------------------------------------

    def info(self) -> ConnectionInfo:
        healthy, error = True, None
        try:
            with api_errors("Health check", self._where(PROJECT)):
                self.kfp.healthzs.healthz_service_get_healthz(_request_timeout=10)
        except DSPError as exc:
            healthy, error = False, str(exc)
        return ConnectionInfo(
            mode=self.mode,
            namespace=self.namespace,
            identity=self.identity,
            policy=self.policy,
            project_endpoint=self.project.endpoint,
            shared_endpoint=self.shared.endpoint if self.shared else None,
            healthy=healthy,
            error=error,
        )

    # ---- results (jupyter_dsp.client.results) ----------------------------------------------

    def results(self, run: Any) -> dict[str, Any]:
        """The results document of ``run`` (id or Run): every task's inputs and outputs
        (parameters, artifacts with type, URI, metadata, size) and the pipeline's outputs."""
        from jupyter_dsp.client import results

        return results.results_document(self, run)

    def read_artifact(self, run: Any, artifact_id: str, max_bytes: int | None = None) -> bytes:
        """An artifact's bytes (only the first ``max_bytes`` when given)."""
        from jupyter_dsp.client import results

        return results.read_artifact(self, run, artifact_id, max_bytes)

    def download_artifact(
        self, run: Any, artifact_id: str, path: str | os.PathLike[str], progress: Any = None
    ) -> Any:
        """Stream an artifact to ``path``; ``progress(done, total)`` after each chunk."""
        from jupyter_dsp.client import results

        return results.download_artifact(self, run, artifact_id, path, progress)

    # ---- compile ------------------------------------------------------------------------

    def compile(
        self, source: Any, output: str | os.PathLike[str] | None = None
    ) -> CompiledPipeline:
        """Compile a pipeline function or ``.py`` file, or load a YAML; write to ``output``."""
        return compile_source(source, output)
