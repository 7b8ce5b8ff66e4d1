"""Pipelines of a space: list, find, upload (private or shared, new versions), fork, delete.

Built on :class:`~jupyter_dsp.client.space_access.SpaceAccess`, which provides the spaces and
their ``kfp.Client`` (``kfp_client``, ``_where``, ``_ns``, ``_writable``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import tempfile
from pathlib import Path
from typing import Any

from jupyter_dsp.client.compiling import (
    IR_SUFFIXES,
    CompiledPipeline,
    compile_source,
    from_spec_dict,
)
from jupyter_dsp.client.errors import ArgumentError, DSPError, NotFoundError, api_errors
from jupyter_dsp.client.models import Pipeline, PipelineVersion, ResultList
from jupyter_dsp.client.space_access import SpaceAccess
from jupyter_dsp.client.spaces import MANAGED, PROJECT, SHARED
from jupyter_dsp.common.managed import managed_filter

PAGE_SIZE = 200
_SAFE_FILE = re.compile(r"[^A-Za-z0-9_.-]+")


class PipelineOperations(SpaceAccess):
    """Pipeline operations over the spaces of a :class:`DSPClient`."""

    # ---- pipelines ----------------------------------------------------------------------

    def _list_raw_pipelines(self, space: str, name: str | None = None) -> list[Any]:
        api = self.kfp_client(space).pipelines
        filt = None
        if name is not None:
            filt = name_filter(name)
        filt = managed_filter(filt, getattr(self.space(space), "managed", "") or "")
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
        if not self.single_user:  # never a shared pipeline for a project name, nor the reverse
            want = self._ns(space) or ""
            found = [p for p in found if (getattr(p, "namespace", None) or "") == want]
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

    def _shared_spaces(self) -> list[str]:
        """The shared space, and beside a catalog the project stack's managed pipelines."""
        if self.shared is None:
            return []
        return [SHARED] + ([MANAGED] if getattr(self, "managed", None) is not None else [])

    def _pipeline(self, raw: Any, space: str) -> Pipeline:
        pipeline = Pipeline.from_api(raw, space)
        if space in (SHARED, MANAGED) and MANAGED in self._shared_spaces():
            pipeline.where = "managed" if space == MANAGED else "catalog"
        return pipeline

    def _with_versions(self, raw: Any, space: str, limit: int | None = None) -> Pipeline:
        pipeline = self._pipeline(raw, space)
        for v in self._list_raw_versions(space, pipeline.id, limit):
            version = PipelineVersion.from_api(v, space)
            version.pipeline = pipeline
            pipeline.versions.append(version)
        return pipeline

    def list_pipelines(
        self, space: str = PROJECT, *, versions: bool = True
    ) -> ResultList[Pipeline]:
        """Pipelines of ``space`` (``"project"``, ``"shared"`` or ``"all"``) with their versions."""
        spaces = {"all": [PROJECT, *self._shared_spaces()], SHARED: self._shared_spaces()}.get(
            space, [space]
        )
        if space == SHARED and not spaces:
            self.space(SHARED)  # the shared space is off: say so
        items: list[Pipeline] = []
        for name in spaces:
            for raw in sorted(self._list_raw_pipelines(name), key=lambda p: p.display_name or ""):
                if versions:
                    items.append(self._with_versions(raw, name))
                else:
                    items.append(self._pipeline(raw, name))
        title = {"all": "Pipelines (project and shared)"}.get(space, f"Pipelines ({space})")
        return ResultList(items, title)

    def _spaces_for(self, space: str | None) -> list[str]:
        if space == SHARED and self._shared_spaces():
            return self._shared_spaces()
        if space in (PROJECT, SHARED, MANAGED):
            return [space]
        return [PROJECT, *self._shared_spaces()]

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
            actual = name
            if name == PROJECT and not (raw.namespace or "") and self.namespace:
                actual = SHARED
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
            with api_errors("Reading the shared version", self._where(source.space)):
                raw = self.kfp_client(source.space).pipelines.pipeline_service_get_pipeline_version(
                    pipeline_id=source.id, pipeline_version_id=picked.id
                )
            spec = raw.pipeline_spec
        if not spec:
            raise DSPError(f"Shared version {picked.name!r} has no pipeline spec to copy.")
        compiled = from_spec_dict(spec, f"shared {source.name}")
        description = f"Forked from shared pipeline {source.name!r} version {picked.name!r}."
        if as_name is None and source.managed:
            # a managed pipeline lives in the project's own stack, where its name is taken
            as_name = f"{source.name}-fork"
        return self._upload_compiled(compiled, PROJECT, as_name or source.name, None, description)


def name_filter(name: str) -> str:
    predicate = {"key": "display_name", "operation": "EQUALS", "string_value": name}
    return json.dumps({"predicates": [predicate]})


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
