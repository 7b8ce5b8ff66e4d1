"""Runs in the project namespace: what to run, start (parameters checked first), list, wait,
terminate, retry. Their logs are run_logs.py's.

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
from jupyter_dsp.client.errors import ArgumentError, DSPError, NotFoundError, api_errors
from jupyter_dsp.client.models import Pipeline, PipelineVersion, ResultList
from jupyter_dsp.client.params import check_arguments, root_parameters
from jupyter_dsp.client.pipelines import PAGE_SIZE, PipelineOperations, name_filter
from jupyter_dsp.client.run_models import Run
from jupyter_dsp.client.spaces import PROJECT
from jupyter_dsp.stack.naming import run_name


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
        run_id = run_id_of(run_id)
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
        rid = run_id_of(run_id)
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
        rid = run_id_of(run_id)
        with api_errors(f"Terminating run {rid}", self._where(PROJECT)):
            self.kfp.runs.run_service_terminate_run(run_id=rid)
        return self.get_run(rid)

    def retry(self, run_id: str | Run) -> Run:
        rid = run_id_of(run_id)
        with api_errors(f"Retrying run {rid}", self._where(PROJECT)):
            self.kfp.runs.run_service_retry_run(run_id=rid)
        return self.get_run(rid)


def run_id_of(value: str | Run) -> str:
    """The id of a run given as a :class:`Run` or its id (a clear error when empty)."""
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
