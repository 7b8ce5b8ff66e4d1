"""The ML Metadata stores the tests serve, and the servicer in front of them.

- ``open_store``: ml-metadata's ``MetadataStore`` on SQLite (where ml-metadata installs);
- ``any_store``: that, else the store the tests build (:mod:`mlmd_memory_store`);
- ``serve_store``: a ``grpc.server`` servicer forwarding each RPC the reader uses to the store,
  with ml-metadata's generated service for its store and the project's messages for the other.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path
from typing import Any

from mlmd_memory_store import MemoryMetadataStore

from jupyter_dsp.results.mlmd import proto as mlmd_proto


def open_store(path: Path) -> Any:
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(path)
    config.sqlite.connection_mode = (
        metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    )
    return metadata_store.MetadataStore(config)


def real_store_installed() -> bool:
    return importlib.util.find_spec("ml_metadata") is not None and (
        os.environ.get("JUPYTER_DSP_TEST_MLMD_STORE", "") != "memory"
    )


def store_python() -> str | None:
    """A Python with ml-metadata to serve its real store from, where this one has none
    (``JUPYTER_DSP_TEST_MLMD_PYTHON``; .ci/run's Python 3.12 pass names its 3.11)."""
    if real_store_installed() or os.environ.get("JUPYTER_DSP_TEST_MLMD_STORE") == "memory":
        return None
    return os.environ.get("JUPYTER_DSP_TEST_MLMD_PYTHON") or None


def any_store(path: Path) -> Any:
    """ml-metadata's store where it installs, else the store the tests build."""
    return open_store(path) if real_store_installed() else MemoryMetadataStore()


def serve_store(store: Any, server: Any) -> Any:
    """Add a servicer of ``store`` to ``server`` (ml-metadata's generated service for its real
    store, the project's own messages for the test-built one); the servicer."""
    servicer = make_servicer(store)
    if isinstance(store, MemoryMetadataStore):
        mlmd_proto.add_to_server(server, servicer)
    else:
        from ml_metadata.proto import metadata_store_service_pb2_grpc as svc_grpc

        svc_grpc.add_MetadataStoreServiceServicer_to_server(servicer, server)
    return servicer


class _OwnResponses:
    """The project's response classes under their generated names (``GetXResponse``)."""

    def __getattr__(self, name: str) -> Any:
        return mlmd_proto.METHODS[name.removesuffix("Response")][1]


def make_servicer(store: Any) -> Any:
    """A MetadataStoreService servicer that forwards the reader's RPCs to ``store``."""
    if isinstance(store, MemoryMetadataStore):
        base: type = object
        svc = _OwnResponses()
    else:
        from ml_metadata.proto import metadata_store_service_pb2 as svc  # type: ignore[no-redef]
        from ml_metadata.proto import metadata_store_service_pb2_grpc as svc_grpc

        base = svc_grpc.MetadataStoreServiceServicer

    lock = threading.Lock()

    class Servicer(base):  # type: ignore[valid-type,misc]
        calls: list[str] = []

        def _do(self, name: str, fn: Any) -> Any:
            self.calls.append(name)
            with lock:
                return fn()

        def GetContextByTypeAndName(self, request: Any, context: Any) -> Any:
            found = self._do(
                "GetContextByTypeAndName",
                lambda: store.get_context_by_type_and_name(request.type_name, request.context_name),
            )
            return (
                svc.GetContextByTypeAndNameResponse(context=found)
                if found
                else (svc.GetContextByTypeAndNameResponse())
            )

        def GetExecutionsByContext(self, request: Any, context: Any) -> Any:
            found = self._do(
                "GetExecutionsByContext",
                lambda: store.get_executions_by_context(request.context_id),
            )
            return svc.GetExecutionsByContextResponse(executions=found)

        def GetEventsByExecutionIDs(self, request: Any, context: Any) -> Any:
            ids = list(request.execution_ids)
            found = self._do(
                "GetEventsByExecutionIDs", lambda: store.get_events_by_execution_ids(ids)
            )
            return svc.GetEventsByExecutionIDsResponse(events=found)

        def GetEventsByArtifactIDs(self, request: Any, context: Any) -> Any:
            ids = list(request.artifact_ids)
            found = self._do(
                "GetEventsByArtifactIDs", lambda: store.get_events_by_artifact_ids(ids)
            )
            return svc.GetEventsByArtifactIDsResponse(events=found)

        def GetArtifactsByID(self, request: Any, context: Any) -> Any:
            ids = list(request.artifact_ids)
            found = self._do("GetArtifactsByID", lambda: store.get_artifacts_by_id(ids))
            return svc.GetArtifactsByIDResponse(artifacts=found)

        def GetContextsByArtifact(self, request: Any, context: Any) -> Any:
            found = self._do(
                "GetContextsByArtifact", lambda: store.get_contexts_by_artifact(request.artifact_id)
            )
            return svc.GetContextsByArtifactResponse(contexts=found)

        def GetArtifactTypesByID(self, request: Any, context: Any) -> Any:
            ids = list(request.type_ids)
            found = self._do("GetArtifactTypesByID", lambda: store.get_artifact_types_by_id(ids))
            return svc.GetArtifactTypesByIDResponse(artifact_types=found)

        def GetExecutionTypesByID(self, request: Any, context: Any) -> Any:
            ids = list(request.type_ids)
            found = self._do("GetExecutionTypesByID", lambda: store.get_execution_types_by_id(ids))
            return svc.GetExecutionTypesByIDResponse(execution_types=found)

    return Servicer()
