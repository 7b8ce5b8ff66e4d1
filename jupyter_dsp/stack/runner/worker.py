"""A run's worker process: ``python -m jupyter_dsp.stack.runner.worker RUN_DIR --events-fd N``.

Reads ``RUN_DIR/job.json`` (``{"run_id", "pipeline_spec", "parameters", "attempt"}``),
executes the pipeline with ``kfp.local`` (subprocess runner, no virtualenv) and writes one
JSON object per line to the events file descriptor:

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
from pathlib import Path
from typing import Any

from jupyter_dsp.stack.runner.model import FAILED, SUCCEEDED

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


def run(run_dir: Path, emit: EventWriter) -> None:
    job = json.loads((run_dir / JOB_FILE).read_text())
    emit({"event": "started", "pid": os.getpid()})

    from google.protobuf import json_format
    from kfp import local
    from kfp.local import pipeline_orchestrator
    from kfp.pipeline_spec import pipeline_spec_pb2

    from jupyter_dsp.stack.runner import kfp_hooks

    recorder = kfp_hooks.Recorder(emit, run_dir / LOGS_DIR, int(job.get("attempt") or 1))
    kfp_hooks.install(recorder)
    work = run_dir / "work"
    work.mkdir(exist_ok=True)
    os.chdir(work)
    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(run_dir / ARTIFACTS_DIR),
        workspace_root=str(run_dir / "workspace"),
        raise_on_error=False,
        enable_caching=True,  # per run: a retry reuses the steps that succeeded
        cache_root=str(run_dir / "cache"),
    )
    spec = pipeline_spec_pb2.PipelineSpec()
    json_format.ParseDict(job["pipeline_spec"], spec, ignore_unknown_fields=True)
    try:
        outputs = pipeline_orchestrator.run_local_pipeline(
            pipeline_spec=spec, arguments=job.get("parameters") or {}
        )
    except Exception as exc:  # a kfp.local error: the run fails with it
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
    if recorder.failed:
        emit(
            {"event": "finished", "state": FAILED, "error": recorder.first_failure(), "outputs": {}}
        )
    else:
        params, artifacts = kfp_hooks.split_values(outputs or {})
        emit(
            {
                "event": "finished",
                "state": SUCCEEDED,
                "error": "",
                "outputs": {**params, **artifacts},
            }
        )


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
