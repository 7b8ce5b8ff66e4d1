"""A run's worker process: ``python -m jupyter_dsp.stack.runner.worker RUN_DIR --events-fd N``.

Reads ``RUN_DIR/job.json`` (``{"run_id", "pipeline_spec", "parameters", "attempt",
"namespace", "settings"}``), walks the pipeline spec (:mod:`dag`), runs each step as KFP's
launcher does (:mod:`steps`) and writes one JSON object per line to the events file descriptor:

- ``{"event": "started", "pid": int}``
- ``{"event": "task", "task": {...TaskRecord...}}`` at every change of a task
- ``{"event": "finished", "state": "SUCCEEDED"|"FAILED", "error": str, "outputs": {...}}``

The supervisor starts it in a new session; the worker, its steps and anything they start
form one process group, which is what terminate kills. If the supervisor dies (even by
kill -9) the worker notices within half a second and kills its own group.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from jupyter_dsp.stack.runner.dag import DagWalker
from jupyter_dsp.stack.runner.identities import namespace_uid
from jupyter_dsp.stack.runner.inputs import Scope
from jupyter_dsp.stack.runner.launch import StepLauncher
from jupyter_dsp.stack.runner.model import FAILED, SUCCEEDED
from jupyter_dsp.stack.runner.recording import Recorder, public_artifacts
from jupyter_dsp.stack.runner.steps import StepOptions, StepRuntime

JOB_FILE = "job.json"
LOGS_DIR = "logs"
ARTIFACTS_DIR = "artifacts"


class EventWriter:
    def __init__(self, fd: int) -> None:
        self._file = os.fdopen(fd, "w", buffering=1, encoding="utf-8")
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any]) -> None:
        line = json.dumps(event, default=repr, separators=(",", ":"))
        with self._lock:
            try:
                self._file.write(line + "\n")
                self._file.flush()
            except (BrokenPipeError, OSError):
                pass  # the supervisor is gone; the watchdog ends us


def _watch_parent(parent_pid: int) -> None:
    """Kill this run's process group as soon as the supervisor is gone."""
    while True:
        if os.getppid() != parent_pid:
            os.killpg(os.getpgid(0), signal.SIGKILL)
        time.sleep(0.5)


def _settings(job: dict[str, Any], run_dir: Path) -> tuple[Path, StepOptions]:
    settings = job.get("settings") or {}
    data_dir = Path(settings.get("data_dir") or run_dir.parent.parent)
    options = StepOptions(
        step_caching=bool(settings.get("step_caching", True)),
        python_in_containers=bool(settings.get("python_in_containers", False)),
    )
    try:
        from jupyter_dsp.stack.runner.cache import StepCache, cache_root
        from jupyter_dsp.stack.runner.environments import StepEnvironments
        from jupyter_dsp.stack.runner.step_settings import environments_root

        options.step_cache = StepCache(cache_root(data_dir))
        options.environments = StepEnvironments(
            environments_root(data_dir), int(settings.get("env_cache_bytes") or 5 * 1024**3)
        )
    except ImportError:  # pragma: no cover - the modules ship with the package
        pass
    return data_dir, options


def run(run_dir: Path, emit: EventWriter) -> None:
    job = json.loads((run_dir / JOB_FILE).read_text())
    emit({"event": "started", "pid": os.getpid()})
    spec = job["pipeline_spec"]
    run_id = str(job.get("run_id") or run_dir.name)
    recorder = Recorder(emit, run_dir / LOGS_DIR, int(job.get("attempt") or 1))
    data_dir, options = _settings(job, run_dir)
    env_root = getattr(options.environments, "root", None)
    settings = job.get("settings") or {}
    uid = None
    if os.geteuid() == 0:  # the namespace's own step identity (identities.py)
        uid = namespace_uid(data_dir, str(job.get("namespace") or ""))
    launcher = StepLauncher(
        run_id,
        run_dir,
        data_dir,
        extra_keep=[Path(env_root)] if env_root else [],
        uid=uid,
        bwrap=str(settings.get("bwrap") or "bwrap"),
        require_sandbox=bool(settings.get("multi_user", False)),
    )
    runtime = StepRuntime(
        spec, run_dir, recorder, launcher, options, platform_spec=job.get("platform_spec")
    )
    name = str((spec.get("pipelineInfo") or {}).get("name") or "pipeline")
    resource = f"{name}-{run_id}"
    created = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    def placeholders(task_key: str, task_id: str) -> dict[str, str]:
        return {
            "pipeline_job_name": str(job.get("display_name") or resource),
            "pipeline_job_resource_name": resource,
            "pipeline_job_uuid": run_id,
            "pipeline_task_name": task_key,
            "pipeline_task_uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{run_id}/{task_id}")),
            "pipeline_job_create_time_utc": created,
            "pipeline_job_schedule_time_utc": created,
            "pipeline_root": str(launcher.artifacts),
            "workspace_path": str(launcher.workspace),
        }

    walker = DagWalker(spec, recorder, runtime.run, placeholders, resource)
    try:
        scope = Scope(dict(job.get("parameters") or {}))
        result = walker.run_dag(spec.get("root") or {}, scope, "")
    except Exception as exc:  # a bug in the engine: the run fails with it
        logging.exception("the pipeline could not run")
        emit(
            {
                "event": "finished",
                "state": FAILED,
                "error": f"{type(exc).__name__}: {exc}",
                "outputs": {},
            }
        )
        return
    if result.state != SUCCEEDED:
        emit(
            {"event": "finished", "state": FAILED, "error": recorder.first_failure(), "outputs": {}}
        )
        return
    outputs: dict[str, Any] = dict(result.outputs.parameters)
    outputs.update(public_artifacts(result.outputs.artifacts))
    emit({"event": "finished", "state": SUCCEEDED, "error": "", "outputs": outputs})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jupyter_dsp.stack.runner.worker")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--events-fd", type=int, required=True)
    parser.add_argument("--parent-pid", type=int, default=0)
    args = parser.parse_args(argv)
    if args.parent_pid:
        threading.Thread(target=_watch_parent, args=(args.parent_pid,), daemon=True).start()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    emit = EventWriter(args.events_fd)
    run(args.run_dir, emit)
    # Everything is reported: skip the interpreter's teardown (kfp's modules, threads).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    raise SystemExit(main())
