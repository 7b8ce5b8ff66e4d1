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
import logging
import shutil
import threading
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from jupyter_dsp.stack.auth import Principal
from jupyter_dsp.stack.errors import (
    ApiError,
    failed_precondition,
    invalid_argument,
    not_found,
    permission_denied,
)
from jupyter_dsp.stack.listing import parse_list_request
from jupyter_dsp.stack.runner.api_json import run_json
from jupyter_dsp.stack.runner.engine import STACK_STOPPED, RunEngine, kill_stale_worker
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
from jupyter_dsp.stack.runner.spec import PipelineDocument, SpecError, load_pipeline_document
from jupyter_dsp.stack.runner.step_settings import worker_settings
from jupyter_dsp.stack.runner.store import RUNS, NewRun, RunStore, snapshot_of

if TYPE_CHECKING:
    from jupyter_dsp.stack.context import StackContext

log = logging.getLogger("jupyter_dsp.stack")
DEFAULT_EXPERIMENT = "Default"
MAX_NAME_LENGTH = 128


class SnapshotWriter:
    """Persists the latest snapshot of each changed run on its own thread."""

    def __init__(self, save: Callable[[list[RunSnapshot]], None]) -> None:
        self._save = save
        self._pending: dict[str, RunSnapshot] = {}
        self._busy = False
        self._stopped = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._loop, name="dsp-run-writer", daemon=True)
        self._thread.start()

    def put(self, snap: RunSnapshot) -> None:
        copy = RunSnapshot.from_dict(snap.to_dict())
        with self._cond:
            self._pending[snap.run_id] = copy
            self._cond.notify_all()

    def flush(self, timeout: float = 10) -> None:
        with self._cond:
            self._cond.wait_for(lambda: not self._pending and not self._busy, timeout=timeout)

    def stop(self) -> None:
        self.flush()
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending or self._stopped)
                if self._stopped and not self._pending:
                    return
                batch, self._pending = list(self._pending.values()), {}
                self._busy = True
            try:
                self._save(batch)
            except Exception:  # logged; the run's next change writes it again
                log.exception("saving run states failed")
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()


def _check_str(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise invalid_argument(f"Field {name!r} must be a string")
    return value


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
        row = self.store.get(run_id)
        self.access.check_read(who, row["namespace"])
        if write:
            self.access.check_write(who, row["namespace"])
        return row

    def _snapshot(self, row: Any) -> RunSnapshot:
        return self.engine.snapshot(row["run_id"]) or snapshot_of(row)

    def _json(self, row: Any) -> dict[str, Any]:
        return run_json(row, self._snapshot(row))

    def _experiment(self, who: Principal, experiment_id: str, namespace: str | None) -> Any:
        """The run's experiment (given, or the namespace's Default one)."""
        if experiment_id:
            row = self.ctx.experiment_store.get(experiment_id)
            self.access.check_read(who, row["namespace"])
            if namespace and self.access.multi_user and namespace.strip() != row["namespace"]:
                raise invalid_argument(
                    f"Experiment {experiment_id} is in namespace {row['namespace']!r},"
                    f" not {namespace.strip()!r}"
                )
            return row
        ns = self.ctx.experiments.namespace(namespace)
        self.access.check_write(who, ns)
        conn = self.ctx.db.conn()
        found = conn.execute(
            "SELECT * FROM experiments WHERE namespace = ? AND display_name = ?",
            (ns, DEFAULT_EXPERIMENT),
        ).fetchone()
        if found is not None:
            return found
        try:
            return self.ctx.experiment_store.create(ns, DEFAULT_EXPERIMENT)
        except ApiError:  # created meanwhile by another request
            return conn.execute(
                "SELECT * FROM experiments WHERE namespace = ? AND display_name = ?",
                (ns, DEFAULT_EXPERIMENT),
            ).fetchone()

    def _pipeline(
        self, who: Principal, body: dict[str, Any], namespace: str
    ) -> tuple[PipelineDocument, str, str]:
        """The pipeline to run: (document, pipeline_id, pipeline_version_id)."""
        reference = body.get("pipeline_version_reference")
        inline = body.get("pipeline_spec")
        version_id = _check_str(body, "pipeline_version_id")
        pipeline_id = ""
        if reference is not None:
            if not isinstance(reference, dict):
                raise invalid_argument("pipeline_version_reference must be an object")
            unknown = set(reference) - {"pipeline_id", "pipeline_version_id"}
            if unknown:
                raise invalid_argument(
                    f"Unknown field {sorted(unknown)[0]!r} in pipeline_version_reference"
                )
            pipeline_id = _check_str(reference, "pipeline_id")
            version_id = _check_str(reference, "pipeline_version_id") or version_id
        if inline and (pipeline_id or version_id):
            raise invalid_argument(
                "A run takes either pipeline_spec or pipeline_version_reference, not both"
            )
        if inline:
            if not isinstance(inline, dict):
                raise invalid_argument("pipeline_spec must be an object")
            try:
                return load_pipeline_document(inline), "", ""
            except SpecError as exc:
                raise invalid_argument(f"Invalid pipeline_spec: {exc}") from None
        if not pipeline_id and not version_id:
            raise invalid_argument(
                "A run needs a pipeline: pipeline_version_reference (pipeline_id and"
                " pipeline_version_id) or pipeline_spec"
            )
        store = self.ctx.pipeline_store
        if version_id:
            version = store.get_version(version_id)
            if pipeline_id and version["pipeline_id"] != pipeline_id:
                raise not_found(f"PipelineVersion {version_id} not found in pipeline {pipeline_id}")
        else:
            latest = store.latest_version(pipeline_id)
            if latest is None:
                store.get_pipeline(pipeline_id)  # 404 for an unknown pipeline
                raise failed_precondition(f"Pipeline {pipeline_id} has no version to run")
            version = latest
        pipeline = store.get_pipeline(version["pipeline_id"])
        self.access.check_read(who, pipeline["namespace"])
        if self.access.multi_user and pipeline["namespace"] not in ("", namespace):
            raise permission_denied(
                f"A run in namespace {namespace!r} cannot use a pipeline of namespace"
                f" {pipeline['namespace']!r} (use one of its own namespace or a shared one)"
            )
        try:  # the spec as JSON (stored at upload, already checked): no YAML to parse
            document = load_pipeline_document(json.loads(version["spec_json"]))
        except (SpecError, ValueError) as exc:
            raise invalid_argument(f"The pipeline version cannot run: {exc}") from None
        return document, version["pipeline_id"], version["pipeline_version_id"]

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
        name = _check_str(body, "display_name").strip()
        if not name:
            raise invalid_argument("Run display_name is required")
        if len(name) > MAX_NAME_LENGTH:
            raise invalid_argument(f"Run display_name is longer than {MAX_NAME_LENGTH} characters")
        experiment_id = _check_str(body, "experiment_id") or (experiment_query or "")
        experiment = self._experiment(who, experiment_id, namespace)
        ns = experiment["namespace"]
        self.access.check_write(who, ns)
        if experiment["storage_state"] == "ARCHIVED":
            raise failed_precondition(
                f"Experiment {experiment['experiment_id']} is archived; unarchive it to add runs"
            )
        document, pipeline_id, version_id = self._pipeline(who, body, ns)
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
                description=_check_str(body, "description"),
                pipeline_id=pipeline_id,
                pipeline_version_id=version_id,
                spec=document.as_api_object(),
                runtime_config=runtime,
                parameters=parameters,
                service_account=_check_str(body, "service_account"),
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
        params: Any,
    ) -> dict[str, Any]:
        query = parse_list_request(RUNS, **params.__dict__)
        if experiment_id:
            experiment = self.ctx.experiment_store.get(experiment_id)
            self.access.check_read(who, experiment["namespace"])
            scope = [("experiment_id", experiment_id)]
        else:
            ns = self.ctx.experiments.namespace(namespace)
            self.access.check_read(who, ns)
            scope = [("namespace", ns)]
        page = self.store.list(scope, query)
        return page.to_json("runs", self._json)

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
