"""DSPClient: the operations magics, widgets and users share, over one ``kfp.Client`` per space."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from jupyter_dsp.client.compiling import (
    IR_SUFFIXES,
    PY_SUFFIXES,
    CompiledPipeline,
    compile_source,
    from_spec_dict,
    is_pipeline_function,
    split_file_function,
)
from jupyter_dsp.client.errors import ArgumentError, DSPError, NotFoundError, api_errors
from jupyter_dsp.client.models import Pipeline, PipelineVersion, ResultList, Run
from jupyter_dsp.client.params import check_arguments, root_parameters
from jupyter_dsp.client.spaces import PROJECT, SHARED, SpaceLike, describe_endpoint, make_kfp_client

PAGE_SIZE = 200
_SAFE_FILE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass
class LogChunk:
    """A slice of a task's log: ``text`` from the asked offset up to ``next_offset``."""

    text: str
    next_offset: int
    complete: bool


@dataclass
class Logs:
    """Logs of one task or of a whole run (tasks in order, each under a header)."""

    run_id: str
    text: str
    tasks: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return self.text

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self.text or "(no log output)")

    def _repr_html_(self) -> str:
        body = escape(self.text) if self.text else "<i>(no log output)</i>"
        return f'<pre style="max-height:30em;overflow:auto;font-size:0.85em">{body}</pre>'


@dataclass
class ConnectionInfo:
    """What the client is connected to (no token, ever)."""

    mode: str
    namespace: str
    identity: str
    policy: str
    project_endpoint: str
    shared_endpoint: str | None
    healthy: bool
    error: str | None = None

    def _text(self) -> str:
        shared = self.shared_endpoint or f"off ({self.policy})"
        state = "healthy" if self.healthy else f"UNREACHABLE: {self.error}"
        return (
            f"DSP {self.mode}: namespace {self.namespace!r} as {self.identity or '-'} [{state}]\n"
            f"  project: {self.project_endpoint}\n  shared:  {shared} (policy {self.policy})"
        )

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self._text())

    def _repr_html_(self) -> str:
        return f"<pre>{escape(self._text())}</pre>"


class DSPClient:
    """Pipelines in a project namespace and in the shared space of a KFP (or embedded) stack.

    ``client.kfp`` and ``client.kfp_shared`` are ready ``kfp.Client`` objects for anything
    not wrapped here.
    """

    default_experiment = "Default"
    poll_interval = 1.0

    def __init__(
        self,
        project: SpaceLike,
        shared: SpaceLike | None = None,
        *,
        mode: str = "configured",
        identity: str = "",
        policy: str = "read-write",
    ) -> None:
        self.project = project
        self.shared = shared
        self.mode = mode
        self.identity = identity
        self.policy = policy
        self.namespace = project.namespace
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._experiments: dict[str, str] = {}

    # ---- construction -------------------------------------------------------------------

    @classmethod
    def from_connection(cls, conn: Any) -> DSPClient:
        """From a :class:`jupyter_dsp.connection.Connection`."""
        return cls(
            conn.project,
            conn.shared,
            mode=conn.mode,
            identity=conn.identity,
            policy=conn.policy,
        )

    @classmethod
    def from_endpoint(
        cls,
        endpoint: str,
        token: str | None = None,
        *,
        namespace: str = "default",
        token_file: str | None = None,
        shared_endpoint: str | None = None,
        shared_token: str | None = None,
        shared: bool = True,
        shared_writable: bool = True,
        ca_bundle: str | None = None,
        identity: str = "",
    ) -> DSPClient:
        """Connect straight to a stack URL (the shared space defaults to the same stack)."""
        from jupyter_dsp.client.spaces import StaticSpace

        endpoint = endpoint.rstrip("/")
        project = StaticSpace(
            PROJECT, endpoint, namespace, ca_bundle, True, True, token, token_file
        )
        shared_space = None
        if shared:
            shared_space = StaticSpace(
                SHARED,
                (shared_endpoint or endpoint).rstrip("/"),
                "",
                ca_bundle,
                True,
                shared_writable,
                shared_token if shared_token is not None else token,
                None if shared_token is not None else token_file,
            )
        policy = ("read-write" if shared_writable else "read-only") if shared else "off"
        return cls(project, shared_space, mode="configured", identity=identity, policy=policy)

    def __repr__(self) -> str:
        shared = describe_endpoint(self.shared) if self.shared else "off"
        return (
            f"<DSPClient namespace={self.namespace!r} project={describe_endpoint(self.project)} "
            f"shared={shared}>"
        )

    # ---- kfp.Client per space ---------------------------------------------------------------

    def space(self, name: str) -> SpaceLike:
        if name == PROJECT:
            return self.project
        if name == SHARED:
            if self.shared is None:
                raise DSPError(
                    f"The shared space is off (policy {self.policy}).",
                    hint="Use the project space, or ask your admin to enable shared pipelines.",
                )
            return self.shared
        raise ArgumentError(f"Unknown space {name!r}: use 'project' or 'shared'.")

    def kfp_client(self, space: str = PROJECT) -> Any:
        """The ``kfp.Client`` of ``space`` (created on first use)."""
        target = self.space(space)
        with self._lock:
            client = self._clients.get(space)
            if client is None:
                with api_errors("Connecting", self._where(space)):
                    client = make_kfp_client(target, self.namespace)
                self._clients[space] = client
        return client

    @property
    def kfp(self) -> Any:
        return self.kfp_client(PROJECT)

    @property
    def kfp_shared(self) -> Any:
        return self.kfp_client(SHARED) if self.shared is not None else None

    def _where(self, space: str) -> str:
        target = self.project if space == PROJECT else self.shared
        if target is None:
            return space
        label = f"namespace {self.namespace!r}" if space == PROJECT else "the shared space"
        return f"{label} at {describe_endpoint(target)}"

    @property
    def single_user(self) -> bool:
        """The project's stack said (healthz) it is single-user: it knows no namespaces."""
        known = getattr(self.project, "health_error", None) is None
        return known and getattr(self.project, "multi_user", True) is False

    def _ns(self, space: str) -> str | None:
        """Namespace query value for ``space``: none for shared (that is what makes it shared),
        none on a single-user stack (which refuses namespace filters)."""
        if space != PROJECT or self.single_user:
            return None
        return self.namespace or None

    def _writable(self, space: str) -> None:
        target = self.space(space)
        if not target.writable:
            raise DSPError(
                f"The {space} space is read-only here (policy {self.policy}).",
                hint="Upload privately to your project instead (omit --shared).",
            )

    # ---- info ---------------------------------------------------------------------------

    def info(self) -> ConnectionInfo:
        healthy, error = True, None
        try:
            with api_errors("Health check", self._where(PROJECT)):
                self.kfp.healthzs.healthz_service_get_healthz(_request_timeout=10)
        except DSPError as exc:
            healthy, error = False, str(exc)
        return ConnectionInfo(
            mode=self.mode,
            namespace=self.namespace,
            identity=self.identity,
            policy=self.policy,
            project_endpoint=self.project.endpoint,
            shared_endpoint=self.shared.endpoint if self.shared else None,
            healthy=healthy,
            error=error,
        )

    # ---- compile ------------------------------------------------------------------------

    def compile(
        self, source: Any, output: str | os.PathLike[str] | None = None
    ) -> CompiledPipeline:
        """Compile a pipeline function or ``.py`` file, or load a YAML; write to ``output``."""
        return compile_source(source, output)

    # ---- pipelines ----------------------------------------------------------------------

    def _list_raw_pipelines(self, space: str, name: str | None = None) -> list[Any]:
        api = self.kfp_client(space).pipelines
        filt = None
        if name is not None:
            filt = _name_filter(name)
        found: list[Any] = []
        token = ""
        with api_errors("Listing pipelines", self._where(space)):
            while True:
                kwargs: dict[str, Any] = {"page_size": PAGE_SIZE, "page_token": token}
                if filt:
                    kwargs["filter"] = filt
                ns = self._ns(space)
                if ns:
                    kwargs["namespace"] = ns
                response = api.pipeline_service_list_pipelines(**kwargs)
                found.extend(response.pipelines or [])
                token = response.next_page_token or ""
                if not token:
                    break
        if name is not None:  # exact match even if a server ignored the filter
            found = [p for p in found if name in (p.display_name, p.name)]
        return found

    def _list_raw_versions(
        self, space: str, pipeline_id: str, limit: int | None = None
    ) -> list[Any]:
        api = self.kfp_client(space).pipelines
        found: list[Any] = []
        token = ""
        with api_errors("Listing versions", self._where(space)):
            while True:
                size = min(PAGE_SIZE, limit) if limit else PAGE_SIZE
                response = api.pipeline_service_list_pipeline_versions(
                    pipeline_id=pipeline_id,
                    page_size=size,
                    page_token=token,
                    sort_by="created_at desc",
                )
                found.extend(response.pipeline_versions or [])
                token = response.next_page_token or ""
                if not token or (limit and len(found) >= limit):
                    break
        found.sort(
            key=lambda v: v.created_at or dt.datetime.min.replace(tzinfo=dt.timezone.utc),
            reverse=True,
        )
        return found[:limit] if limit else found

    def _with_versions(self, raw: Any, space: str, limit: int | None = None) -> Pipeline:
        pipeline = Pipeline.from_api(raw, space)
        for v in self._list_raw_versions(space, pipeline.id, limit):
            version = PipelineVersion.from_api(v, space)
            version.pipeline = pipeline
            pipeline.versions.append(version)
        return pipeline

    def list_pipelines(
        self, space: str = PROJECT, *, versions: bool = True
    ) -> ResultList[Pipeline]:
        """Pipelines of ``space`` (``"project"``, ``"shared"`` or ``"all"``) with their versions."""
        spaces = [PROJECT, SHARED] if space == "all" else [space]
        if space == "all" and self.shared is None:
            spaces = [PROJECT]
        items: list[Pipeline] = []
        for name in spaces:
            for raw in sorted(self._list_raw_pipelines(name), key=lambda p: p.display_name or ""):
                if versions:
                    items.append(self._with_versions(raw, name))
                else:
                    items.append(Pipeline.from_api(raw, name))
        title = {"all": "Pipelines (project and shared)"}.get(space, f"Pipelines ({space})")
        return ResultList(items, title)

    def _spaces_for(self, space: str | None) -> list[str]:
        if space in (PROJECT, SHARED):
            return [space]
        return [PROJECT] + ([SHARED] if self.shared is not None else [])

    def find_pipeline(
        self, name_or_id: str, space: str | None = None, *, latest_only: bool = False
    ) -> Pipeline:
        """A pipeline by name (project first, then shared) or by id, with its versions
        (only the newest one with ``latest_only``)."""
        limit = 1 if latest_only else None
        for name in self._spaces_for(space):
            matches = self._list_raw_pipelines(name, name_or_id)
            if matches:
                return self._with_versions(matches[0], name, limit)
        for name in self._spaces_for(space):
            try:
                with api_errors("Getting pipeline", self._where(name)):
                    raw = self.kfp_client(name).pipelines.pipeline_service_get_pipeline(
                        pipeline_id=name_or_id
                    )
            except DSPError as exc:
                if exc.status in (400, 403, 404):
                    continue
                raise
            actual = SHARED if not (raw.namespace or "") and self.namespace else name
            return self._with_versions(raw, actual, limit)
        where = " or ".join(self._spaces_for(space))
        raise NotFoundError(
            f"No pipeline named {name_or_id!r} in {where}.",
            status=404,
            hint="`%dsp list --all` shows what exists.",
        )

    def versions(self, name_or_id: str, space: str | None = None) -> ResultList[PipelineVersion]:
        pipeline = self.find_pipeline(name_or_id, space)
        return ResultList(pipeline.versions, f"Versions of {pipeline.name} ({pipeline.space})")

    def _pick_version(self, pipeline: Pipeline, version: str | None) -> PipelineVersion:
        if not pipeline.versions:
            raise NotFoundError(
                f"Pipeline {pipeline.name!r} has no version.",
                status=404,
                hint="Upload one with `%dsp upload`.",
            )
        if version is None:
            return pipeline.versions[0]
        for v in pipeline.versions:
            if version in (v.name, v.id):
                return v
        names = ", ".join(v.name for v in pipeline.versions)
        raise NotFoundError(
            f"Pipeline {pipeline.name!r} has no version {version!r} (versions: {names}).",
            status=404,
        )

    def delete_pipeline(self, name_or_id: str, space: str | None = None) -> None:
        """Delete a pipeline and all its versions."""
        pipeline = self.find_pipeline(name_or_id, space)
        self._writable(pipeline.space)
        api = self.kfp_client(pipeline.space).pipelines
        with api_errors("Deleting pipeline", self._where(pipeline.space)):
            for v in pipeline.versions:
                api.pipeline_service_delete_pipeline_version(
                    pipeline_id=pipeline.id, pipeline_version_id=v.id
                )
            api.pipeline_service_delete_pipeline(pipeline_id=pipeline.id)

    # ---- upload / fork ----------------------------------------------------------------

    def upload(
        self,
        source: Any,
        *,
        shared: bool = False,
        name: str | None = None,
        version: str | None = None,
        description: str | None = None,
    ) -> PipelineVersion:
        """Upload privately (or to the shared space); an existing name gets a new version.

        Returns the new version; ``.pipeline`` is its pipeline.
        """
        compiled = compile_source(source)
        return self._upload_compiled(
            compiled, SHARED if shared else PROJECT, name, version, description
        )

    def _upload_compiled(
        self,
        compiled: CompiledPipeline,
        space: str,
        name: str | None,
        version: str | None,
        description: str | None,
    ) -> PipelineVersion:
        self._writable(space)
        name = (name or compiled.name or "").strip()
        if not name:
            raise ArgumentError("The pipeline has no name: give one with --name.")
        description = description if description is not None else compiled.description or None
        existing = self._list_raw_pipelines(space, name)
        uploads = self.kfp_client(space).pipeline_uploads
        where = self._where(space)
        with contextlib.ExitStack() as cleanup:
            package = _package_file(compiled, cleanup, name)
            if existing:
                pipeline = Pipeline.from_api(existing[0], space)
                version_name = version or _version_stamp(name)
                kwargs: dict[str, Any] = {"name": version_name, "pipelineid": pipeline.id}
                if description:
                    kwargs["description"] = description
                with api_errors(f"Uploading a version of {name!r}", where):
                    raw_version = uploads.upload_pipeline_version(str(package), **kwargs)
                result = PipelineVersion.from_api(raw_version, space)
                if result.spec is None:
                    result.spec = compiled.spec
            elif version:
                api = self.kfp_client(space).pipelines
                body = self.kfp.api_models.V2beta1Pipeline(
                    display_name=name, description=description, namespace=self._ns(space)
                )
                with api_errors(f"Creating pipeline {name!r}", where):
                    raw = api.pipeline_service_create_pipeline(pipeline=body)
                pipeline = Pipeline.from_api(raw, space)
                kwargs = {"name": version, "pipelineid": pipeline.id}
                if description:
                    kwargs["description"] = description
                try:
                    with api_errors(f"Uploading version {version!r} of {name!r}", where):
                        raw_version = uploads.upload_pipeline_version(str(package), **kwargs)
                except DSPError:
                    # do not leave an empty pipeline behind
                    with contextlib.suppress(Exception):
                        api.pipeline_service_delete_pipeline(pipeline_id=pipeline.id)
                    raise
                result = PipelineVersion.from_api(raw_version, space)
            else:
                kwargs = {"name": name}
                if description:
                    kwargs["description"] = description
                ns = self._ns(space)
                if ns:
                    kwargs["namespace"] = ns
                with api_errors(f"Uploading {name!r}", where):
                    raw = uploads.upload_pipeline(str(package), **kwargs)
                pipeline = Pipeline.from_api(raw, space)
                latest = self._list_raw_versions(space, pipeline.id, limit=1)
                if not latest:
                    raise DSPError(
                        f"Uploaded {name!r} but the stack lists no version for it.",
                        hint="Check `%dsp versions` and the stack's log.",
                    )
                result = PipelineVersion.from_api(latest[0], space)
        if result.spec is None:
            result.spec = compiled.spec
        pipeline.versions = [result]
        result.pipeline = pipeline
        return result

    def fork(
        self,
        shared_name: str,
        *,
        as_name: str | None = None,
        version: str | None = None,
    ) -> PipelineVersion:
        """Copy a shared pipeline's version into the project as a private pipeline (or version)."""
        source = self.find_pipeline(shared_name, SHARED, latest_only=version is None)
        picked = self._pick_version(source, version)
        spec = picked.spec
        if not spec:
            with api_errors("Reading the shared version", self._where(SHARED)):
                raw = self.kfp_shared.pipelines.pipeline_service_get_pipeline_version(
                    pipeline_id=source.id, pipeline_version_id=picked.id
                )
            spec = raw.pipeline_spec
        if not spec:
            raise DSPError(f"Shared version {picked.name!r} has no pipeline spec to copy.")
        compiled = from_spec_dict(spec, f"shared {source.name}")
        description = f"Forked from shared pipeline {source.name!r} version {picked.name!r}."
        return self._upload_compiled(compiled, PROJECT, as_name or source.name, None, description)

    # ---- runs ---------------------------------------------------------------------------

    def experiment_id(self, name: str | None = None) -> str:
        """Id of the experiment ``name`` in the project namespace, created when missing."""
        name = name or self.default_experiment
        cached = self._experiments.get(name)
        if cached:
            return cached
        api = self.kfp.experiments
        where = self._where(PROJECT)
        filt = _name_filter(name)
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
            return pipeline.name, None, self._pick_version(pipeline, version)
        if is_pipeline_function(target) or isinstance(target, CompiledPipeline):
            compiled = compile_source(target)
            return compiled.name, _run_spec(compiled), None
        if isinstance(target, str | os.PathLike):
            text = os.fspath(target)
            path, _ = split_file_function(text)
            if path.lower().endswith(PY_SUFFIXES + IR_SUFFIXES):
                compiled = compile_source(text)
                return compiled.name, _run_spec(compiled), None
            pipeline = self.find_pipeline(text, space, latest_only=version is None)
            return pipeline.name, None, self._pick_version(pipeline, version)
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
        declared = root_parameters(spec if spec is not None else (picked.spec if picked else {}))
        values = check_arguments(declared, arguments)
        exp_name = experiment or self.default_experiment
        cached = exp_name in self._experiments
        models = self.kfp.api_models
        body = models.V2beta1Run(
            display_name=name or f"{title} {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M:%S}",
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
        if run.spec is None:
            run.spec = spec if spec is not None else (picked.spec if picked else None)
        return self.wait(run.id, timeout=timeout) if wait else run

    def run_spec(self, run: Run) -> dict[str, Any] | None:
        """The pipeline spec a run executes (inline, or its pipeline version's); None if unknown."""
        if run.spec:
            return run.spec
        if not (run.pipeline_id and run.version_id):
            return None
        try:
            with api_errors("Reading the run's pipeline version", self._where(PROJECT)):
                raw = self.kfp.pipelines.pipeline_service_get_pipeline_version(
                    pipeline_id=run.pipeline_id, pipeline_version_id=run.version_id
                )
        except DSPError:
            return None
        run.spec = raw.pipeline_spec
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
            return Run.from_api(self.kfp.runs.run_service_get_run(run_id=run_id))

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
        """One read of a task's log from ``offset`` (the stack's logs extension)."""
        api_client = self.kfp.runs.api_client
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
        body = response.data.decode("utf-8", "replace")
        headers = response.headers
        next_offset = int(headers.get("X-Log-Next-Offset") or offset + len(response.data))
        complete = str(headers.get("X-Log-Complete", "false")).lower() == "true"
        return LogChunk(body, next_offset, complete)

    def task_log(self, run_id: str, task_id: str) -> str:
        parts: list[str] = []
        offset = 0
        for _ in range(10_000):
            chunk = self.log_chunk(run_id, task_id, offset)
            parts.append(chunk.text)
            if chunk.next_offset <= offset or not chunk.text:
                break
            offset = chunk.next_offset
        return "".join(parts)

    def logs(self, run_id: str | Run, task: str | None = None) -> Logs:
        """The log of one task (by name or id) or of every task of the run."""
        run = run_id if isinstance(run_id, Run) and run_id.tasks else self.get_run(_run_id(run_id))
        if task is not None:
            found = run.task(task)
            if found is None:
                names = ", ".join(t.name for t in run.tasks) or "none yet"
                raise NotFoundError(
                    f"Run {run.id} has no task {task!r} (tasks: {names}).", status=404
                )
            return Logs(run.id, self.task_log(run.id, found.id), [found.name])
        ordered = sorted(
            run.tasks,
            key=lambda t: t.started_at or dt.datetime.max.replace(tzinfo=dt.timezone.utc),
        )
        sections = []
        for t in ordered:
            text = self.task_log(run.id, t.id)
            sections.append(f"==> {t.name} [{t.state}] <==\n{text.rstrip()}\n")
        return Logs(run.id, "\n".join(sections), [t.name for t in ordered])


def _name_filter(name: str) -> str:
    predicate = {"key": "display_name", "operation": "EQUALS", "string_value": name}
    return json.dumps({"predicates": [predicate]})


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


def _package_file(compiled: CompiledPipeline, cleanup: contextlib.ExitStack, name: str) -> Path:
    """The file to upload: the user's own IR file when it was read as is, else a fresh copy
    in a temporary directory that ``cleanup`` removes."""
    path = compiled.path
    if path is not None and compiled.text is not None and path.suffix.lower() in IR_SUFFIXES:
        return path
    tmp = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="dsp-upload-")))
    package = tmp / f"{_SAFE_FILE.sub('_', name)[:80] or 'pipeline'}.yaml"
    package.write_text(compiled.to_yaml(), encoding="utf-8")
    return package


def _version_stamp(name: str) -> str:
    now = dt.datetime.now(dt.timezone.utc)
    return f"{name}-{now:%Y%m%d-%H%M%S}-{now.microsecond // 1000:03d}"
