"""Read a run's results from ML Metadata as KFP's launcher records them (KFP 2.x).

1. ``GetContextByTypeAndName("system.PipelineRun", run_id)``;
2. ``GetExecutionsByContext``: the tasks (``task_name``, ``display_name``, ``parent_dag_id``,
   ``iteration_index``, ``inputs``/``outputs`` parameter structs, ``last_known_state``);
3. ``GetEventsByExecutionIDs`` then ``GetArtifactsByID``: each task's artifacts, named by the
   first step of the event path.

The answer is the results document (CONTRACTS.md, ``source: "mlmd"``). The transport is native
gRPC or gRPC-Web (:mod:`jupyter_dsp.results.mlmd.grpcweb`), behind one stub.

The messages and the stub are the project's own (:mod:`jupyter_dsp.results.mlmd.proto`:
ML Metadata's public protos, the part read here); the ml-metadata package is not needed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from jupyter_dsp.results.mlmd import proto as pb
from jupyter_dsp.results.mlmd.endpoint import MLMDEndpoint
from jupyter_dsp.results.mlmd.errors import MLMDError, explain_rpc_error
from jupyter_dsp.results.mlmd.outputs import pipeline_outputs
from jupyter_dsp.results.mlmd.values import artifact_metadata, parameters, task_state

RUN_CONTEXT_TYPE = "system.PipelineRun"
DAG_TYPE = "system.DAGExecution"
_IDS_PER_CALL = 500
MAX_MESSAGE = 256 * 1024 * 1024


class MLMDReader:
    """Reads runs from one ML Metadata store."""

    def __init__(self, endpoint: MLMDEndpoint, timeout: float = 10.0) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self._channel = self._open_channel()
        self.stub = pb.MetadataStoreStub(self._channel)
        self._type_names: dict[tuple[str, int], str] = {}

    def _open_channel(self) -> Any:
        ep = self.endpoint
        if ep.transport == "grpc-web":
            from jupyter_dsp.results.mlmd.grpcweb import GrpcWebChannel

            return GrpcWebChannel(
                ep.target, token=ep.token, ca_bundle=ep.ca_bundle, timeout=self.timeout
            )
        import grpc  # type: ignore[import-untyped]

        options = [("grpc.max_receive_message_length", MAX_MESSAGE)]  # a big run's executions
        if not ep.tls:
            return grpc.insecure_channel(ep.target, options=options)
        roots = None
        if ep.ca_bundle:
            with open(ep.ca_bundle, "rb") as fh:
                roots = fh.read()
        creds = grpc.ssl_channel_credentials(root_certificates=roots)
        token = ep.token()
        if token:
            creds = grpc.composite_channel_credentials(
                creds, grpc.access_token_call_credentials(token)
            )
        return grpc.secure_channel(ep.target, creds, options=options)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> MLMDReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- RPCs -----------------------------------------------------------------------------
    def _rpc(self, name: str, request: Any) -> Any:
        try:
            return getattr(self.stub, name)(request, timeout=self.timeout)
        except MLMDError:
            raise
        except Exception as exc:  # grpc.RpcError, GrpcWebError, urllib3 and ssl errors
            raise explain_rpc_error(exc, self.endpoint) from None

    def run_context(self, run_id: str, namespace: str | None) -> Any:
        """The run's context; refuses a run of another namespace when the store is shared."""
        resp = self._rpc(
            "GetContextByTypeAndName",
            pb.request("GetContextByTypeAndName", type_name=RUN_CONTEXT_TYPE, context_name=run_id),
        )
        if not resp.HasField("context"):
            raise MLMDError(
                f"ML Metadata has no record of run {run_id} yet (its first step has not "
                "started, or the run was recorded by another store)",
                status=404,
            )
        ctx = resp.context
        if self.endpoint.namespace_check:
            owner = ctx.custom_properties["namespace"].string_value
            if not namespace or owner != namespace:
                raise MLMDError(
                    f"run {run_id} belongs to namespace {owner or '(none)'!r}, not to the "
                    f"project namespace {namespace!r}: refused (the shared ML Metadata store "
                    "has no authorization of its own)",
                    status=403,
                )
        return ctx

    def _executions(self, context_id: int) -> list[Any]:
        resp = self._rpc(
            "GetExecutionsByContext",
            pb.request("GetExecutionsByContext", context_id=context_id),
        )
        return sorted(resp.executions, key=lambda e: e.id)

    def _events(self, execution_ids: list[int]) -> list[Any]:
        out: list[Any] = []
        for chunk in _chunks(execution_ids):
            req = pb.request("GetEventsByExecutionIDs", execution_ids=chunk)
            out.extend(self._rpc("GetEventsByExecutionIDs", req).events)
        return out

    def _artifacts(self, artifact_ids: Iterable[int]) -> dict[int, Any]:
        out: dict[int, Any] = {}
        for chunk in _chunks(sorted(set(artifact_ids))):
            req = pb.request("GetArtifactsByID", artifact_ids=chunk)
            for art in self._rpc("GetArtifactsByID", req).artifacts:
                out[art.id] = art
        return out

    def _type_name(self, kind: str, node: Any) -> str:
        if node.type:
            return str(node.type)
        key = (kind, node.type_id)
        if key not in self._type_names:
            method = f"Get{kind}TypesByID"
            req = pb.request(method, type_ids=[node.type_id])
            types = getattr(self._rpc(method, req), f"{kind.lower()}_types")
            self._type_names[key] = types[0].name if types else ""
        return self._type_names[key]

    # -- the document ---------------------------------------------------------------------
    def read_run(
        self,
        run_id: str,
        namespace: str | None,
        pipeline_spec: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The results document of ``run_id`` (``state`` from the root DAG; ``ui_url`` and
        ``unavailable`` left for the caller)."""
        ctx = self.run_context(run_id, namespace)
        executions = self._executions(ctx.id)
        events = self._events([e.id for e in executions])
        artifacts = self._artifacts(e.artifact_id for e in events)
        art_docs = {aid: self._artifact_doc(a) for aid, a in artifacts.items()}
        by_exec: dict[int, dict[str, dict[str, list[dict[str, Any]]]]] = {}
        for ev in sorted(events, key=lambda e: (e.execution_id, e.artifact_id)):
            doc = art_docs.get(ev.artifact_id)
            if doc is None or not ev.path.steps:
                continue
            side = _event_side(ev.type)
            if side is None:
                continue
            slot = by_exec.setdefault(ev.execution_id, {"inputs": {}, "outputs": {}})
            name = ev.path.steps[0].key
            slot[side].setdefault(name, []).append(dict(doc, name=name))
        root = None
        tasks: list[dict[str, Any]] = []
        index_of: dict[int, int | None] = {}
        for e in executions:
            props = e.custom_properties
            is_dag = self._type_name("Execution", e) == DAG_TYPE
            if is_dag and "parent_dag_id" not in props and root is None:
                root = e
                continue
            own = props["iteration_index"].int_value if "iteration_index" in props else None
            parent = props["parent_dag_id"].int_value if "parent_dag_id" in props else 0
            index_of[e.id] = own if own is not None else index_of.get(parent)
            arts = by_exec.get(e.id, {"inputs": {}, "outputs": {}})
            state = task_state(pb.enum_name(pb.Execution, "State", e.last_known_state))
            tasks.append(
                {
                    "task_id": str(e.id),
                    "name": props["task_name"].string_value,
                    "display_name": props["display_name"].string_value
                    or props["task_name"].string_value,
                    "state": state,
                    "parent_task_id": ""
                    if root is not None and parent == root.id
                    else (str(parent) if parent else ""),
                    "iteration_index": index_of[e.id],
                    "cached": state == "CACHED" or "cached_execution_id" in props,
                    "inputs": {
                        "parameters": parameters(props, "inputs"),
                        "artifacts": arts["inputs"],
                    },
                    "outputs": {
                        "parameters": parameters(props, "outputs"),
                        "artifacts": arts["outputs"],
                    },
                    "_dag": is_dag,
                    "_parent": parent,
                    "_props": props,
                }
            )
        outputs = pipeline_outputs(root, tasks, pipeline_spec)
        for t in tasks:
            for key in ("_dag", "_parent", "_props"):
                t.pop(key)
        state = (
            task_state(pb.enum_name(pb.Execution, "State", root.last_known_state)) if root else ""
        )
        return {
            "run_id": run_id,
            "state": state,
            "source": "mlmd",
            "ui_url": None,
            "unavailable": None,
            "pipeline_outputs": outputs,
            "tasks": tasks,
        }

    def artifact(self, run_id: str, artifact_id: str, namespace: str | None) -> dict[str, Any]:
        """One artifact of the run (checked to belong to it), as in the document."""
        ctx = self.run_context(run_id, namespace)
        try:
            aid = int(artifact_id)
        except ValueError:
            raise MLMDError(f"artifact id {artifact_id!r} is not a number", status=400) from None
        req = pb.request("GetContextsByArtifact", artifact_id=aid)
        owners = {c.id for c in self._rpc("GetContextsByArtifact", req).contexts}
        arts = self._artifacts([aid]) if ctx.id in owners else {}
        if aid not in arts:
            raise MLMDError(f"run {run_id} has no artifact {artifact_id}", status=404)
        events = self._rpc(
            "GetEventsByArtifactIDs", pb.request("GetEventsByArtifactIDs", artifact_ids=[aid])
        ).events
        named = [ev for ev in events if ev.path.steps]
        named.sort(key=lambda ev: _event_side(ev.type) != "outputs")
        name = named[0].path.steps[0].key if named else ""  # the producer's name first
        return dict(self._artifact_doc(arts[aid]), name=name)

    def _artifact_doc(self, art: Any) -> dict[str, Any]:
        return {
            "artifact_id": str(art.id),
            "name": "",
            "type": self._type_name("Artifact", art),
            "uri": art.uri,
            "metadata": artifact_metadata(art.custom_properties),
            "size": None,
        }


def _event_side(event_type: int) -> str | None:
    name = pb.enum_name(pb.Event, "Type", event_type)
    if name in ("INPUT", "DECLARED_INPUT", "INTERNAL_INPUT"):
        return "inputs"
    if name in ("OUTPUT", "DECLARED_OUTPUT", "INTERNAL_OUTPUT"):
        return "outputs"
    return None


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for i in range(0, len(ids), _IDS_PER_CALL):
        yield ids[i : i + _IDS_PER_CALL]
