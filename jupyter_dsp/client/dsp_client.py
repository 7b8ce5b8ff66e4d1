"""DSPClient: the operations magics, widgets and users share, over one ``kfp.Client`` per space."""

from __future__ import annotations

import os
from typing import Any

from jupyter_dsp.client.compiling import (
    CompiledPipeline,
    compile_source,
)
from jupyter_dsp.client.errors import DSPError, api_errors
from jupyter_dsp.client.lifecycle import LifecycleOperations
from jupyter_dsp.client.models import ConnectionInfo
from jupyter_dsp.client.spaces import (
    PROJECT,
    SHARED,
    describe_endpoint,
)


class DSPClient(LifecycleOperations):
    """Pipelines in a project namespace and in the shared space of a KFP (or embedded) stack.

    ``client.kfp`` and ``client.kfp_shared`` are ready ``kfp.Client`` objects for anything
    not wrapped here. Built in layers, each using the ones below it:
    :class:`~jupyter_dsp.client.space_access.SpaceAccess` (the spaces and their
    ``kfp.Client``), :class:`~jupyter_dsp.client.pipelines.PipelineOperations`,
    :class:`~jupyter_dsp.client.runs.RunOperations`,
    :class:`~jupyter_dsp.client.run_logs.LogOperations`,
    :class:`~jupyter_dsp.client.lifecycle.LifecycleOperations`.
    """

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
        self, source: Any, output: str | os.PathLike[str] | None = None, image: str | None = None
    ) -> CompiledPipeline:
        """Compile a pipeline function, a ``.py`` file or a notebook (on ``image``, a runtime
        image's name or an image reference, when given), or load a YAML; write to ``output``."""
        return compile_source(source, output, image)
