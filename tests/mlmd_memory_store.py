"""A store the tests build, for where ml-metadata does not install (CPython >= 3.12): the part of
``ml_metadata.metadata_store.MetadataStore``'s API that :mod:`mlmd_kfp_run` writes with and
:func:`fixtures_mlmd.make_servicer` reads from, keeping the project's own ML Metadata messages
(:mod:`jupyter_dsp.results.mlmd.proto`) in memory.

It does what the real store does for those calls: ids from 1 per kind, a type put twice under one
name is one type, nodes come back with ``type`` (the type's name) and create/update times,
``put_execution`` stores the execution, its events (with its id) and its attributions and
associations to the contexts; the reads answer in id order. Served by the same servicer over
gRPC, it is what the reader's tests read from on interpreters without ml-metadata.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from jupyter_dsp.results.mlmd import proto as pb


@dataclass
class ContextType:  # never sent over the wire by the reader's RPCs
    name: str
    id: int = 0


@dataclass
class ParentContext:
    child_id: int
    parent_id: int


MESSAGES = SimpleNamespace(
    Value=pb.Value,
    Artifact=pb.Artifact,
    ArtifactType=pb.ArtifactType,
    Event=pb.Event,
    Execution=pb.Execution,
    ExecutionType=pb.ExecutionType,
    Context=pb.Context,
    ContextType=ContextType,
    ParentContext=ParentContext,
)


class MemoryMetadataStore:
    messages = MESSAGES

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._ids = {k: itertools.count(1) for k in ("type", "art", "exec", "ctx")}
        self._types: dict[tuple[str, str], int] = {}  # (kind, name) -> id
        self._type_msgs: dict[int, Any] = {}
        self._artifacts: dict[int, Any] = {}
        self._executions: dict[int, Any] = {}
        self._contexts: dict[int, Any] = {}
        self._events: list[Any] = []
        self._attributions: set[tuple[int, int]] = set()  # (context, artifact)
        self._associations: set[tuple[int, int]] = set()  # (context, execution)
        self.parents: list[ParentContext] = []

    # -- writes ---------------------------------------------------------------------------
    def _put_type(self, kind: str, msg: Any, **_: Any) -> int:
        with self._lock:
            key = (kind, msg.name)
            if key not in self._types:
                tid = next(self._ids["type"])
                self._types[key] = tid
                if kind == "context":
                    self._type_msgs[tid] = ContextType(name=msg.name, id=tid)
                else:
                    stored = type(msg)()
                    stored.CopyFrom(msg)
                    stored.id = tid
                    self._type_msgs[tid] = stored
            return self._types[key]

    def put_context_type(self, msg: Any, **kw: Any) -> int:
        return self._put_type("context", msg, **kw)

    def put_execution_type(self, msg: Any, **kw: Any) -> int:
        return self._put_type("execution", msg, **kw)

    def put_artifact_type(self, msg: Any, **kw: Any) -> int:
        return self._put_type("artifact", msg, **kw)

    def _put_node(self, table: dict[int, Any], kind: str, msg: Any) -> int:
        now = int(time.time() * 1000)
        stored = type(msg)()
        stored.CopyFrom(msg)
        if not stored.id:
            stored.id = next(self._ids[kind])
            stored.create_time_since_epoch = now
        else:
            stored.create_time_since_epoch = table[stored.id].create_time_since_epoch
        stored.last_update_time_since_epoch = now
        stored.type = self._type_msgs[stored.type_id].name
        table[stored.id] = stored
        return stored.id

    def put_artifacts(self, artifacts: list[Any]) -> list[int]:
        with self._lock:
            return [self._put_node(self._artifacts, "art", a) for a in artifacts]

    def put_executions(self, executions: list[Any]) -> list[int]:
        with self._lock:
            return [self._put_node(self._executions, "exec", e) for e in executions]

    def put_contexts(self, contexts: list[Any]) -> list[int]:
        with self._lock:
            for c in contexts:
                if not c.id and self.get_context_by_type_and_name(
                    self._type_msgs[c.type_id].name, c.name
                ):
                    raise ValueError(f"context {c.name!r} already exists")
            return [self._put_node(self._contexts, "ctx", c) for c in contexts]

    def put_parent_contexts(self, parents: list[ParentContext]) -> None:
        with self._lock:
            self.parents.extend(parents)

    def put_execution(
        self, execution: Any, artifact_and_events: list[tuple[Any, Any]], contexts: list[Any]
    ) -> tuple[int, list[int], list[int]]:
        with self._lock:
            eid = self._put_node(self._executions, "exec", execution)
            aids = []
            for artifact, event in artifact_and_events:
                aid = self._put_node(self._artifacts, "art", artifact)
                aids.append(aid)
                if event is not None:
                    stored = pb.Event()
                    stored.CopyFrom(event)
                    stored.artifact_id, stored.execution_id = aid, eid
                    stored.milliseconds_since_epoch = int(time.time() * 1000)
                    self._events.append(stored)
            cids = [c.id or self.put_contexts([c])[0] for c in contexts]
            for cid in cids:
                self._associations.add((cid, eid))
                self._attributions.update((cid, aid) for aid in aids)
            return eid, aids, cids

    # -- reads ----------------------------------------------------------------------------
    @staticmethod
    def _copies(table: dict[int, Any], ids: Any) -> list[Any]:
        out = []
        for i in sorted(set(ids)):
            if i in table:
                msg = type(table[i])()
                msg.CopyFrom(table[i])
                out.append(msg)
        return out

    def get_artifacts_by_id(self, ids: list[int]) -> list[Any]:
        with self._lock:
            return self._copies(self._artifacts, ids)

    def get_executions_by_id(self, ids: list[int]) -> list[Any]:
        with self._lock:
            return self._copies(self._executions, ids)

    def get_contexts_by_id(self, ids: list[int]) -> list[Any]:
        with self._lock:
            return self._copies(self._contexts, ids)

    def get_context_by_type_and_name(self, type_name: str, name: str) -> Any:
        with self._lock:
            tid = self._types.get(("context", type_name))
            for c in self._contexts.values():
                if c.type_id == tid and c.name == name:
                    return self._copies(self._contexts, [c.id])[0]
            return None

    def get_executions_by_context(self, context_id: int) -> list[Any]:
        with self._lock:
            ids = [e for c, e in self._associations if c == context_id]
            return self._copies(self._executions, ids)

    def get_contexts_by_artifact(self, artifact_id: int) -> list[Any]:
        with self._lock:
            ids = [c for c, a in self._attributions if a == artifact_id]
            return self._copies(self._contexts, ids)

    def _events_where(self, field: str, ids: list[int]) -> list[Any]:
        wanted = set(ids)
        with self._lock:
            found = [ev for ev in self._events if getattr(ev, field) in wanted]
            out = []
            for ev in found:
                copy = pb.Event()
                copy.CopyFrom(ev)
                out.append(copy)
            return out

    def get_events_by_execution_ids(self, ids: list[int]) -> list[Any]:
        return self._events_where("execution_id", ids)

    def get_events_by_artifact_ids(self, ids: list[int]) -> list[Any]:
        return self._events_where("artifact_id", ids)

    def _types_by_id(self, kind: str, ids: list[int]) -> list[Any]:
        with self._lock:
            mine = {tid for (k, _), tid in self._types.items() if k == kind}
            return self._copies(self._type_msgs, [i for i in ids if i in mine])

    def get_artifact_types_by_id(self, ids: list[int]) -> list[Any]:
        return self._types_by_id("artifact", ids)

    def get_execution_types_by_id(self, ids: list[int]) -> list[Any]:
        return self._types_by_id("execution", ids)
