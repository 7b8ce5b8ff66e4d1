"""Who a run's work is done for: its namespace, its steps' user, where its importers may read.

The engine writes the run's namespace into ``job.json`` and starts the worker with
``DSP_RUN_DIR`` (a variable steps never see: :func:`launch.scrubbed_environment` drops every
``DSP_`` variable). What the stack does on a step's behalf in the worker (importers, package
environment builds, the step cache, reading outputs back) asks :func:`current_run` for the
run, so that it does it with no more rights than the step and only for its namespace.

Import roots (``StepSettings.import_roots``, ``--import-root``, ``DSPSettings.
step_import_roots``): the directories local-path and ``file://`` importers may read. Unset,
a multi-user stack allows none and a single-user stack its working directory. Whatever the
setting, the stack's data dir and service-account token directories are never readable.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_dsp.stack.runner.identities import namespace_uid

RUN_DIR_VARIABLE = "DSP_RUN_DIR"
JOB_FILE = "job.json"
# where Kubernetes mounts service-account tokens (and other secrets) into a pod
SECRET_DIRS = ("/var/run/secrets", "/run/secrets")


@dataclass(frozen=True)
class RunContext:
    run_id: str
    run_dir: Path
    data_dir: Path
    namespace: str
    multi_user: bool
    import_roots: tuple[str, ...]
    uid: int | None  # the steps' own user id; None: steps run as the stack's user
    bwrap: str = "bwrap"  # the bubblewrap program of the stack's step sandbox

    @property
    def forbidden(self) -> tuple[str, ...]:
        """Directories nothing is read from for a step, whatever the settings."""
        return (str(self.data_dir), *SECRET_DIRS)


def default_import_roots(configured: Any, multi_user: bool) -> list[str]:
    """The import roots a stack gives its runs: the configured ones (absolute paths), or
    by default none on a multi-user stack and the working directory on a single-user one."""
    if configured is None:
        return [] if multi_user else [os.getcwd()]
    roots = []
    for item in configured:
        text = os.path.expanduser(str(item).strip())
        if text and os.path.isabs(text):
            roots.append(os.path.normpath(text))
    return roots


def steps_run_as_own_user() -> bool:
    """Whether steps get their own uid (the stack runs as root), as ``StepLauncher`` does."""
    return os.geteuid() == 0


def context_from_job(run_dir: Path, job: dict[str, Any]) -> RunContext:
    settings = job.get("settings") or {}
    run_id = str(job.get("run_id") or run_dir.name)
    multi_user = bool(settings.get("multi_user", True))
    roots = settings.get("import_roots")
    data_dir = Path(settings.get("data_dir") or run_dir.parent.parent)
    namespace = str(job.get("namespace") or "")
    return RunContext(
        run_id=run_id,
        run_dir=run_dir,
        data_dir=data_dir,
        namespace=namespace,
        multi_user=multi_user,
        import_roots=tuple(default_import_roots(roots, multi_user) if roots is None else roots),
        # the namespace's own step identity, as the worker's StepLauncher runs its steps
        uid=namespace_uid(data_dir, namespace) if steps_run_as_own_user() else None,
        bwrap=str(settings.get("bwrap") or "bwrap"),
    )


_loaded: dict[str, RunContext] = {}


def current_run() -> RunContext | None:
    """The run this worker process runs (None outside a worker: a library call)."""
    value = os.environ.get(RUN_DIR_VARIABLE, "")
    if not value:
        return None
    if value not in _loaded:
        run_dir = Path(value)
        job = json.loads((run_dir / JOB_FILE).read_text())
        _loaded[value] = context_from_job(run_dir, job)
    return _loaded[value]
