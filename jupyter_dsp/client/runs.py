"""Runs in the project namespace: start (parameters checked first), list, wait, terminate,
retry, and task logs through the stack's logs endpoint.

Built on :class:`~jupyter_dsp.client.pipelines.PipelineOperations`, which it uses to resolve
what to run.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from jupyter_dsp.client.compiling import (
    SOURCE_SUFFIXES,
    CompiledPipeline,
    compile_source,
    from_spec_dict,
    is_pipeline_function,
    split_file_function,
)
from jupyter_dsp.client.errors import (
    ArgumentError,
    DSPError,
    NotFoundError,
    api_errors,
    scrub,
)
from jupyter_dsp.client.log_follow import LogStall
from jupyter_dsp.client.models import (
    LogChunk,
    Logs,
    LogWindow,
    Pipeline,
    PipelineVersion,
    ResultList,
    Run,
)
from jupyter_dsp.client.params import check_arguments, root_parameters
from jupyter_dsp.client.pipelines import PAGE_SIZE, PipelineOperations, name_filter
from jupyter_dsp.client.spaces import PROJECT
from jupyter_dsp.stack.naming import run_name

WINDOW = 1024 * 1024  # bytes of an archived log per read, as the stack's logs extension


class RunOperations(PipelineOperations):
    """Run operations over the project space of a :class:`DSPClient`."""

    # ---- runs ---------------------------------------------------------------------------

    def experiment_id(self, name: str | None = None) -> str:
        """Id of the experiment ``name`` in the project namespace, created when missing."""
        name = name or self.default_experiment
        cached = self._experiments.get(name)
        if cached:
            return cached
        api = self.kfp.experiments
        where = self._where(PROJECT)
        filt = name_filter(name)
        kwargs: dict[str, Any] = {"filter": filt, "page_size": PAGE_SIZE}
        if self._ns(PROJECT):
            kwargs["namespace"] = self._ns(PROJECT)
        with api_errors("Finding the experiment", where):
            found = api.experiment_service_list_experiments(**kwargs).experiments or []
        found = [e for e in found if e.display_name == name]
        if found:
            exp_id = found[0].experiment_id
        else:
            body = self.kfp.api_models.V2beta1Experiment(
                display_name=name, namespace=self._ns(PROJECT)
            )
            with api_errors(f"Creating experiment {name!r}", where):
                exp_id = api.experiment_service_create_experiment(experiment=body).experiment_id
        self._experiments[name] = exp_id
        return exp_id

    def resolve_target(
        self, target: Any, *, space: str | None = None, version: str | None = None
    ) -> tuple[str, dict[str, Any] | None, PipelineVersion | None]:
        """(display name, inline spec or None, version or None) for anything runnable."""
        if isinstance(target, PipelineVersion):
            if version is None:
                if target.spec is None:
                    target.spec = self._version_spec(target)
                name = target.pipeline.name if target.pipeline else target.name
                return name, None, target
            target = target.pipeline or target.pipeline_id
        if isinstance(target, Pipeline):
            pipeline = target if target.versions and version is None else None
            pipeline = pipeline or self.find_pipeline(
                target.id, target.space, latest_only=version is None
            )
            return pipeline.name, None, self._with_spec(self._pick_version(pipeline, version))
        if is_pipeline_function(target) or isinstance(target, CompiledPipeline):
            compiled = compile_source(target)
            return compiled.name, _run_spec(compiled), None
        if isinstance(target, str | os.PathLike):
            text = os.fspath(target)
            path, _ = split_file_function(text)
            if path.lower().endswith(SOURCE_SUFFIXES):
                compiled = compile_source(text)
                return compiled.name, _run_spec(compiled), None
            pipeline = self.find_pipeline(text, space, latest_only=version is None)
            return pipeline.name, None, self._with_spec(self._pick_version(pipeline, version))
        raise ArgumentError(
            f"Cannot run a {type(target).__name__}: give a pipeline function, a file, "
            "a pipeline name or id, or a Pipeline/PipelineVersion."
        )

    def fetch_spec(
        self, target: Any, *, space: str | None = None, version: str | None = None
    ) -> CompiledPipeline:
        """The IR of anything runnable; for a pipeline on the stack, its (newest) version's."""
        title, spec, picked = self.resolve_target(target, space=space, version=version)
        if picked is not None:
            spec = picked.spec or self._version_spec(picked)
        if not spec:
            raise NotFoundError(f"Pipeline {title!r} has no pipeline spec.", status=404)
        return from_spec_dict(spec, title)

    def _with_spec(self, version: PipelineVersion) -> PipelineVersion:
        """The version with its spec (its inputs): a version list may carry no specs (the
        server's proxy leaves them out), so it is read by id when missing."""
        if version.spec is None:
            version.spec = self._version_spec(version)
        return version

    def _version_spec(self, version: PipelineVersion) -> dict[str, Any] | None:
        with api_errors("Reading the pipeline version", self._where(version.space)):
            raw = self.kfp_client(version.space).pipelines.pipeline_service_get_pipeline_version(
                pipeline_id=version.pipeline_id, pipeline_version_id=version.id
            )
        return raw.pipeline_spec

    def run(
        self,
        target: Any,
        arguments: Mapping[str, Any] | None = None,
        *,
        experiment: str | None = None,
        name: str | None = None,
        space: str | None = None,
        version: str | None = None,
        wait: bool = False,
        timeout: float | None = None,
    ) -> Run:
        """Start a run in the project namespace; ``arguments`` are checked before submitting."""
        title, spec, picked = self.resolve_target(target, space=space, version=version)
        stored = picked.spec if picked else None
        declared = root_parameters(spec if spec is not None else stored or {})
        values = check_arguments(declared, arguments)
        exp_name = experiment or self.default_experiment
        cached = exp_name in self._experiments
        models = self.kfp.api_models
        body = models.V2beta1Run(
            display_name=name or run_name(title),
            experiment_id=self.experiment_id(exp_name),
            runtime_config=models.V2beta1RuntimeConfig(parameters=values),
        )
        if picked is not None:
            body.pipeline_version_reference = models.V2beta1PipelineVersionReference(
                pipeline_id=picked.pipeline_id, pipeline_version_id=picked.id
            )
        else:
            body.pipeline_spec = spec
        try:
            with api_errors(f"Starting a run of {title!r}", self._where(PROJECT)):
                raw = self.kfp.runs.run_service_create_run(run=body)
        except DSPError as exc:
            if not (cached and exc.status == 404):
                raise
            # the remembered experiment may have been deleted meanwhile: look it up again
            self._experiments.pop(exp_name, None)
            body.experiment_id = self.experiment_id(exp_name)
            with api_errors(f"Starting a run of {title!r}", self._where(PROJECT)):
                raw = self.kfp.runs.run_service_create_run(run=body)
        run = Run.from_api(raw)
        run.client = self
        if run.spec is None:
            run.spec = spec if spec is not None else (picked.spec if picked else None)
        return self.wait(run.id, timeout=timeout) if wait else run

    def run_spec(self, run: Run) -> dict[str, Any] | None:
        """The pipeline spec a run executes (inline, or its pipeline version's); None if unknown."""
        if run.spec:
            return run.spec
        if not (run.pipeline_id and run.version_id):
            return None
        known: dict[str, Any] = self.__dict__.setdefault("_version_specs_seen", {})
        if run.version_id in known:  # a version's spec never changes
            run.spec = known[run.version_id]
            return run.spec
        try:
            with api_errors("Reading the run's pipeline version", self._where(PROJECT)):
                raw = self.kfp.pipelines.pipeline_service_get_pipeline_version(
                    pipeline_id=run.pipeline_id, pipeline_version_id=run.version_id
                )
        except DSPError as exc:
            if exc.status in (403, 404):  # not readable here (e.g. another stack's): no retry
                known[run.version_id] = None
            return None
        run.spec = known[run.version_id] = raw.pipeline_spec
        return run.spec

    def runs(self, limit: int = 20, state: str | None = None) -> ResultList[Run]:
        """The project's runs, newest first (optionally only those in ``state``)."""
        if limit < 1:
            raise ArgumentError("The limit must be at least 1.")
        wanted = state.upper() if state else None
        api = self.kfp.runs
        items: list[Run] = []
        token = ""
        with api_errors("Listing runs", self._where(PROJECT)):
            while len(items) < limit:
                kwargs: dict[str, Any] = {
                    "page_size": PAGE_SIZE if wanted else min(limit, PAGE_SIZE),
                    "page_token": token,
                    "sort_by": "created_at desc",
                }
                if self._ns(PROJECT):
                    kwargs["namespace"] = self._ns(PROJECT)
                response = api.run_service_list_runs(**kwargs)
                for raw in response.runs or []:
                    run = Run.from_api(raw)
                    run.client = self
                    if wanted is None or run.state == wanted:
                        items.append(run)
                token = response.next_page_token or ""
                if not token:
                    break
        items.sort(
            key=lambda r: r.created_at or dt.datetime.min.replace(tzinfo=dt.timezone.utc),
            reverse=True,
        )
        title = f"Runs in {self.namespace or 'the stack'}" + (f" ({wanted})" if wanted else "")
        return ResultList(items[:limit], title)

    def get_run(self, run_id: str) -> Run:
        run_id = _run_id(run_id)
        with api_errors(f"Getting run {run_id}", self._where(PROJECT)):
            run = Run.from_api(self.kfp.runs.run_service_get_run(run_id=run_id))
        run.client = self  # run.outputs reads through this client
        self.run_spec(run)  # the defaults it ran with (run.defaults); once per version
        return run

    def wait(
        self,
        run_id: str | Run,
        timeout: float | None = None,
        *,
        on_update: Callable[[Run], None] | None = None,
    ) -> Run:
        """Poll until the run ends (or ``timeout`` seconds pass: :class:`DSPError`)."""
        rid = _run_id(run_id)
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.1
        while True:
            run = self.get_run(rid)
            if on_update is not None:
                on_update(run)
            if run.done:
                return run
            if deadline is not None and time.monotonic() >= deadline:
                raise DSPError(
                    f"Run {rid} is still {run.state} after {timeout:g}s.",
                    hint=f"Look again later with `%dsp show {rid}`.",
                )
            pause = min(delay, self.poll_interval)
            if deadline is not None:
                pause = max(0.0, min(pause, deadline - time.monotonic()))
            time.sleep(pause)
            delay *= 2

    def terminate(self, run_id: str | Run) -> Run:
        rid = _run_id(run_id)
        with api_errors(f"Terminating run {rid}", self._where(PROJECT)):
            self.kfp.runs.run_service_terminate_run(run_id=rid)
        return self.get_run(rid)

    def retry(self, run_id: str | Run) -> Run:
        rid = _run_id(run_id)
        with api_errors(f"Retrying run {rid}", self._where(PROJECT)):
            self.kfp.runs.run_service_retry_run(run_id=rid)
        return self.get_run(rid)

    # ---- logs ---------------------------------------------------------------------------

    def log_chunk(self, run_id: str, task_id: str, offset: int = 0) -> LogChunk:
        """One read of a task's log from ``offset``: the stack's logs extension, or on a
        cluster's KFP API server (which has none) its archived log endpoint."""
        api_client = self.kfp.runs.api_client
        try:
            with api_errors(f"Reading the log of task {task_id}", self._where(PROJECT)):
                response = api_client.call_api(
                    "/apis/v2beta1/runs/{run_id}/tasks/{task_id}/logs",
                    "GET",
                    path_params={"run_id": run_id, "task_id": task_id},
                    query_params=[("offset", int(offset))],
                    header_params={"Accept": "text/plain"},
                    auth_settings=["Bearer"],
                    _preload_content=False,
                    _return_http_data_only=True,
                )
        except NotFoundError as exc:
            if getattr(self, "mode", "") == "embedded":
                raise
            return self._archived_chunk(run_id, task_id, offset, exc)
        body = scrub(response.data.decode("utf-8", "replace"))
        headers = response.headers
        raw_next = str(headers.get("X-Log-Next-Offset") or "")
        given = raw_next.isdigit()
        next_offset = int(raw_next) if given else offset + len(response.data)
        complete = str(headers.get("X-Log-Complete", "false")).lower() == "true"
        raw_size = str(headers.get("X-Log-Size") or "")
        size = int(raw_size) if raw_size.isdigit() else None
        return LogChunk(body, next_offset, complete, size, offset_given=given)

    def _archived_chunk(
        self, run_id: str, task_id: str, offset: int, first: DSPError
    ) -> LogChunk:
        """KFP's ``GET /apis/v1alpha1/runs/{run}/nodes/{node}/log`` (the pod's log while the pod
        exists, the archived one after; node = the task's pod), windowed to ``offset``."""
        run = self.get_run(run_id)
        task = next((t for t in run.tasks if t.id == task_id), None)
        if task is None:
            raise first
        raw = task.raw
        pod = getattr(raw, "pod_name", None) or next(
            (c.pod_name for c in (getattr(raw, "child_tasks", None) or []) if c.pod_name), None
        )
        node = pod or task_id
        api_client = self.kfp.runs.api_client
        try:
            with api_errors(f"Reading the archived log of task {task_id}", self._where(PROJECT)):
                response = api_client.call_api(
                    "/apis/v1alpha1/runs/{run_id}/nodes/{node_id}/log",
                    "GET",
                    path_params={"run_id": run_id, "node_id": node},
                    header_params={"Accept": "text/plain"},
                    auth_settings=["Bearer"],
                    _preload_content=False,
                    _return_http_data_only=True,
                )
        except DSPError as exc:
            raise DSPError(
                f"No log for task {task.name}: {first.message} And the API server's archived "
                f"log: {exc.message} (KFP keeps step logs after their pods only with log "
                "archiving on).",
                status=404,
            ) from None
        kept, seen = bytearray(), 0
        for piece in response.stream(64 * 1024):  # memory bounded by the window
            lo, seen = seen, seen + len(piece)
            if seen > offset and lo < offset + WINDOW:
                kept += piece[max(0, offset - lo) : offset + WINDOW - lo]
        end = offset + len(kept)
        text = scrub(bytes(kept).decode("utf-8", "replace"))
        return LogChunk(text, max(offset, end), end >= seen, seen)

    def read_log(
        self, run_id: str, task_id: str, *, start: int | None = None, max_bytes: int | None = None
    ) -> LogWindow:
        """At most ``max_bytes`` of a task's log (default ``log_tail_bytes``): from byte
        ``start``, or the tail when ``start`` is None. Memory stays bounded whatever the
        log's size; a stack that does not say the size is read through, keeping the tail."""
        limit = int(max_bytes or self.log_tail_bytes)
        if limit <= 0:
            raise ArgumentError("the number of log bytes must be positive")
        offset = int(start or 0)
        first = self.log_chunk(run_id, task_id, offset)
        if start is None and first.size is not None and first.size - offset > limit:
            offset = first.size - limit
            first = self.log_chunk(run_id, task_id, offset)
        window_start, parts, kept = offset, [first.text], len(first.text.encode())
        chunk, size = first, first.size
        stalled = LogStall(run_id, task_id)
        stalled.check(first, offset)
        while chunk.text and chunk.next_offset > offset and not chunk.complete:
            if start is not None and kept >= limit:
                break
            offset = chunk.next_offset
            chunk = self.log_chunk(run_id, task_id, offset)
            stalled.check(chunk, offset)
            size = chunk.size if chunk.size is not None else size
            parts.append(chunk.text)
            kept += len(chunk.text.encode())
            while start is None and kept - len(parts[0].encode()) >= limit and len(parts) > 1:
                dropped = parts.pop(0)  # an old stack: keep only the tail in memory
                kept -= len(dropped.encode())
                window_start += len(dropped.encode())
        text = "".join(parts)
        raw = text.encode()
        if len(raw) > limit:
            if start is None:
                window_start += len(raw) - limit
                raw = raw[-limit:]
            else:
                raw = raw[:limit]
            text = raw.decode("utf-8", "replace")
        end = window_start + len(raw)
        return LogWindow(text, window_start, end, max(size or 0, end), chunk.complete)

    def task_log(self, run_id: str, task_id: str) -> str:
        """The tail of a task's log (``log_tail_bytes`` at most)."""
        return self.read_log(run_id, task_id).text

    def logs(
        self,
        run_id: str | Run,
        task: str | None = None,
        *,
        tail: int | None = None,
        start: int | None = None,
    ) -> Logs:
        """The log of one task (by name or id) or of every task of the run: each task's last
        ``tail`` bytes (default ``log_tail_bytes``, about 1 MB), or ``tail`` bytes from byte
        ``start`` to read an earlier part."""
        run = run_id if isinstance(run_id, Run) and run_id.tasks else self.get_run(_run_id(run_id))
        if task is not None:
            found = run.task(task)
            if found is None:
                names = ", ".join(t.name for t in run.tasks) or "none yet"
                raise NotFoundError(
                    f"Run {run.id} has no task {task!r} (tasks: {names}).", status=404
                )
            window = self.read_log(run.id, found.id, start=start, max_bytes=tail)
            text = _earlier_note(run.id, found.name, window) + window.text
            if not text and found.state == "CACHED":
                text = (
                    f"({found.name} was cached: an earlier run with the same inputs made its "
                    f"outputs, so it did not run again and has no log here; `%dsp outputs "
                    f"{run.id} {found.name}` shows them)"
                )
            return Logs(run.id, text, [found.name], {found.name: window.start})
        ordered = sorted(
            run.tasks,
            key=lambda t: t.started_at or dt.datetime.max.replace(tzinfo=dt.timezone.utc),
        )
        sections, skipped = [], {}
        for t in ordered:
            window = self.read_log(run.id, t.id, start=start, max_bytes=tail)
            skipped[t.name] = window.start
            note = _earlier_note(run.id, t.name, window)
            sections.append(f"==> {t.name} [{t.state}] <==\n{note}{window.text.rstrip()}\n")
        return Logs(run.id, "\n".join(sections), [t.name for t in ordered], skipped)


def _earlier_note(run_id: str, task: str, window: LogWindow) -> str:
    """A first line saying what was left out, and how to read it."""
    if window.start <= 0:
        return ""
    before = max(0, window.start - (window.end - window.start))
    return (
        f"[... {window.start:,} earlier bytes of {window.size:,} not shown; read them with "
        f"`%dsp logs {run_id} {task} --start {before} --bytes {window.end - window.start}` "
        f"...]\n"
    )


def _run_id(value: str | Run) -> str:
    if isinstance(value, Run):
        return value.id
    text = str(value).strip()
    if not text:
        raise ArgumentError("Give a run id (`%dsp runs` lists them).")
    return text


def _run_spec(compiled: CompiledPipeline) -> dict[str, Any]:
    """The ``pipeline_spec`` of a run request, with the platform spec when there is one."""
    if compiled.platform_spec:
        return {"pipeline_spec": compiled.spec, "platform_spec": compiled.platform_spec}
    return compiled.spec
