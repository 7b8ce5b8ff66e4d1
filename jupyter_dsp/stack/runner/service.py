"""Runs as the KFP v2beta1 API serves them: namespaces, authorization, validation, recovery.

- A run lives in its experiment's namespace; without an experiment, in the request's
  namespace (``?namespace=``, else the stack's default), in that namespace's ``Default``
  experiment (created when missing, as kfp.Client would).
- Creating, deleting, archiving, terminating and retrying need edit rights on the run's
  namespace; reading needs view. A run may use a pipeline version of its own namespace or a
  shared one (readable by everyone).
- Parameters are checked against the pipeline's root inputs before anything is stored.
- The engine's snapshots are persisted by one writer thread (latest per run wins); reads use
  the engine's in-memory view when it has one, so they are never behind.
- On start, runs that were RUNNING when the stack stopped (kill -9 included) end FAILED
  saying so (CANCELING ones end CANCELED), and PENDING runs are queued again.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from jupyter_dsp.stack.auth import Principal
from jupyter_dsp.stack.errors import (
    failed_precondition,
    invalid_argument,
    not_found,
)
from jupyter_dsp.stack.listing import ListParams
from jupyter_dsp.stack.runner.api_json import run_json
from jupyter_dsp.stack.runner.engine import STACK_STOPPED, RunEngine
from jupyter_dsp.stack.runner.files import ArtifactError, artifact_tarball, read_log
from jupyter_dsp.stack.runner.model import (
    CANCELED,
    CANCELING,
    FAILED,
    FINAL_STATES,
    PENDING,
    RUNNING,
    RunSnapshot,
    now_us,
)
from jupyter_dsp.stack.runner.params import ParameterError, resolve_parameters
from jupyter_dsp.stack.runner.run_source import pipeline_to_run, string_field
from jupyter_dsp.stack.runner.snapshot_writer import SnapshotWriter
from jupyter_dsp.stack.runner.spec import load_pipeline_document
from jupyter_dsp.stack.runner.step_settings import worker_settings
from jupyter_dsp.stack.runner.store import RUNS, NewRun, RunStore, snapshot_of
from jupyter_dsp.stack.runner.worker_process import kill_stale_worker

if TYPE_CHECKING:
    from jupyter_dsp.stack.context import StackContext

MAX_NAME_LENGTH = 128


class RunService:
    def __init__(self, ctx: StackContext, *, max_workers: int | None = None) -> None:
        self.ctx = ctx
        self.access = ctx.access
        self.store = RunStore(ctx.db.conn)
        self.writer = SnapshotWriter(self.store.save_snapshots)
        self.engine = RunEngine(
            ctx.data_dir / "runs",
            max_workers=max_workers or ctx.config.workers,
            listener=self.writer.put,
            settings=worker_settings(ctx),
        )
        self.recover()

    # ----- lifecycle ---------------------------------------------------------------------

    def recover(self) -> None:
        """Settle what a previous stack left: interrupted runs fail, pending ones start."""
        stale = self.store.in_states((RUNNING, CANCELING))
        settled = []
        for row in stale:
            if row["worker_pid"]:
                kill_stale_worker(int(row["worker_pid"]))
            snap = snapshot_of(row)
            canceled = row["state"] == CANCELING
            state, error = (CANCELED, "") if canceled else (FAILED, STACK_STOPPED)
            t = now_us()
            snap.state, snap.error, snap.finished_at, snap.pid = state, error, t, None
            snap.state_history.append(
                {"state": state, "time": t, **({"error": error} if error else {})}
            )
            for task in snap.tasks.values():
                if task.state not in FINAL_STATES:
                    task.state, task.end_time = (CANCELED if canceled else FAILED), t
            settled.append(snap)
        if settled:
            self.store.save_snapshots(settled)
        for row in self.store.in_states((PENDING,)):
            document = load_pipeline_document(json.loads(row["spec_json"]))
            self.engine.submit(
                row["run_id"],
                document,
                json.loads(row["parameters"]),
                attempt=row["attempt"],
                history=json.loads(row["state_history"]),
                namespace=row["namespace"],
            )

    def close(self) -> None:
        self.engine.shutdown()
        self.writer.stop()

    # ----- helpers -----------------------------------------------------------------------

    def _row(self, who: Principal, run_id: str, write: bool = False) -> Any:
        return self.access.check_row(who, self.store.get(run_id), write)

    def _snapshot(self, row: Any) -> RunSnapshot:
        return self.engine.snapshot(row["run_id"]) or snapshot_of(row)

    def _json(self, row: Any) -> dict[str, Any]:
        return run_json(row, self._snapshot(row))

    # ----- endpoints ---------------------------------------------------------------------

    def create(
        self,
        who: Principal,
        body: dict[str, Any],
        experiment_query: str | None = None,
        namespace: str | None = None,
        *,
        recurring_run_id: str = "",
        also: Callable[[Any], None] | None = None,
    ) -> dict[str, Any]:
        """Create and queue a run. The recurring-run scheduler passes ``recurring_run_id`` and
        ``also(conn)``, which records the firing in the same transaction as the run."""
        name = string_field(body, "display_name").strip()
        if not name:
            raise invalid_argument("Run display_name is required")
        if len(name) > MAX_NAME_LENGTH:
            raise invalid_argument(f"Run display_name is longer than {MAX_NAME_LENGTH} characters")
        experiment_id = string_field(body, "experiment_id") or (experiment_query or "")
        experiment = self.ctx.experiments.for_new_run(who, experiment_id, namespace, "runs")
        ns = experiment["namespace"]
        document, pipeline_id, version_id = pipeline_to_run(
            self.access, self.ctx.pipeline_store, who, body, ns
        )
        runtime = body.get("runtime_config") or {}
        if not isinstance(runtime, dict):
            raise invalid_argument("runtime_config must be an object")
        unknown = set(runtime) - {"parameters", "pipeline_root"}
        if unknown:
            raise invalid_argument(f"Unknown field {sorted(unknown)[0]!r} in runtime_config")
        given = runtime.get("parameters") or {}
        if not isinstance(given, dict):
            raise invalid_argument("runtime_config.parameters must be an object")
        try:
            parameters = resolve_parameters(document.root_parameters(), given)
        except ParameterError as exc:
            raise invalid_argument(f"Invalid run parameters: {exc}") from None
        run_id = str(uuid.uuid4())
        self.store.create(
            NewRun(
                run_id=run_id,
                namespace=ns,
                experiment_id=experiment["experiment_id"],
                display_name=name,
                description=string_field(body, "description"),
                pipeline_id=pipeline_id,
                pipeline_version_id=version_id,
                spec=document.as_api_object(),
                runtime_config=runtime,
                parameters=parameters,
                service_account=string_field(body, "service_account"),
                state=PENDING,
                recurring_run_id=recurring_run_id,
            ),
            also,
        )
        self.engine.submit(run_id, document, parameters, namespace=ns)
        return self._json(self.store.get(run_id))

    def get(self, who: Principal, run_id: str) -> dict[str, Any]:
        return self._json(self._row(who, run_id))

    def list(
        self,
        who: Principal,
        namespace: str | None,
        experiment_id: str | None,
        params: ListParams,
    ) -> dict[str, Any]:
        query = params.query(RUNS)
        scope = self.ctx.experiments.list_scope(who, namespace, experiment_id)
        return self.store.list(scope, query).to_json("runs", self._json)

    def delete(self, who: Principal, run_id: str) -> None:
        row = self._row(who, run_id, write=True)
        if self.engine.terminate(run_id) is not None:
            self.engine.wait(run_id, timeout=5)
        self.store.delete(run_id)
        self.engine.forget(run_id)
        shutil.rmtree(self.engine.run_dir(row["run_id"]), ignore_errors=True)

    def archive(self, who: Principal, run_id: str) -> None:
        self._row(who, run_id, write=True)
        self.store.set_storage_state(run_id, "ARCHIVED")

    def unarchive(self, who: Principal, run_id: str) -> None:
        self._row(who, run_id, write=True)
        self.store.set_storage_state(run_id, "AVAILABLE")

    def terminate(self, who: Principal, run_id: str) -> None:
        self._row(who, run_id, write=True)
        self.engine.terminate(run_id)

    def retry(self, who: Principal, run_id: str) -> None:
        row = self._row(who, run_id, write=True)
        snap = self._snapshot(row)
        if snap.state not in (FAILED, CANCELED):
            raise failed_precondition(
                f"Run {run_id} is {snap.state}; only a failed or canceled run can be retried"
            )
        document = load_pipeline_document(json.loads(row["spec_json"]))
        self.engine.adopt(snap)
        params = json.loads(row["parameters"])
        try:
            self.engine.retry(
                run_id, document, params, attempt=snap.attempt + 1, namespace=row["namespace"]
            )
        except ValueError as exc:  # retried meanwhile by another request
            raise failed_precondition(f"Run {run_id} cannot be retried now: {exc}") from None

    def task_log(
        self, who: Principal, run_id: str, task_id: str, offset: int
    ) -> tuple[bytes, int, bool, int]:
        row = self._row(who, run_id)
        snap = self._snapshot(row)
        task = snap.tasks.get(task_id)
        if task is None:
            raise not_found(f"Task {task_id} not found in run {run_id}")
        if offset < 0:
            raise invalid_argument("offset must be 0 or more")
        path = self.engine.run_dir(run_id) / "logs" / f"{task_id}.log"
        chunk = read_log(path, offset)
        complete = task.state in FINAL_STATES and chunk.next_offset >= chunk.size
        return chunk.data, chunk.next_offset, complete, chunk.size

    def read_artifact(self, who: Principal, run_id: str, node_id: str, artifact_name: str) -> bytes:
        row = self._row(who, run_id)
        snap = self._snapshot(row)
        task = snap.tasks.get(node_id)
        if task is None:
            raise not_found(f"Node {node_id} not found in run {run_id}")
        artifacts = task.output_artifacts.get(artifact_name)
        if not artifacts:
            raise not_found(f"Artifact {artifact_name} not found in node {node_id}")
        try:
            return artifact_tarball(str(artifacts[0]["uri"]), self.engine.run_dir(run_id))
        except ArtifactError as exc:
            raise not_found(f"Artifact {artifact_name} of node {node_id}: {exc}") from None
