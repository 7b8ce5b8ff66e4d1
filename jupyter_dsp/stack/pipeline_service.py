"""Pipelines and versions as the KFP API serves them: namespaces, authorization, validation.

Every method takes the calling :class:`Principal` and plain values, and returns API JSON
(dicts) or raises :class:`ApiError`. Nothing here knows about tornado.
"""

from __future__ import annotations

from typing import Any

from jupyter_dsp.stack.auth import Access, Principal
from jupyter_dsp.stack.errors import invalid_argument
from jupyter_dsp.stack.listing import ListParams
from jupyter_dsp.stack.pipelines_store import (
    PIPELINES,
    VERSIONS,
    NewPipeline,
    NewVersion,
    PipelineStore,
)
from jupyter_dsp.stack.pipelinespec import ParsedSpec
from jupyter_dsp.stack.serialize import pipeline_json, version_json

MAX_NAME_LENGTH = 128
MAX_NAMESPACE_LENGTH = 63


def build_name(name: str, display_name: str, filename: str) -> str:
    """KFP's naming rule: ``name``, else ``display_name``, else the uploaded file's name."""
    return name or display_name or filename


def check_tags(tags: Any) -> dict[str, str]:
    if tags is None:
        return {}
    if not isinstance(tags, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in tags.items()
    ):
        raise invalid_argument("tags must be an object of string keys and string values")
    for key, value in tags.items():
        if not key or len(key) > 63 or len(value) > 63:
            raise invalid_argument("tag keys (non-empty) and values are limited to 63 characters")
    return dict(tags)


class PipelineService:
    def __init__(self, store: PipelineStore, access: Access) -> None:
        self.store = store
        self.access = access

    # -- namespaces ------------------------------------------------------------------------

    def namespace(self, raw: str | None) -> str:
        """The namespace a request means: ``""`` (shared) in single-user mode."""
        if not self.access.multi_user:
            return ""
        namespace = (raw or "").strip()
        if len(namespace) > MAX_NAMESPACE_LENGTH:
            raise invalid_argument(f"namespace is longer than {MAX_NAMESPACE_LENGTH} characters")
        return namespace

    def _pipeline(self, who: Principal, pipeline_id: str, write: bool = False) -> Any:
        return self.access.check_row(who, self.store.get_pipeline(pipeline_id), write)

    @staticmethod
    def _check_name(name: str, what: str) -> str:
        if not name:
            raise invalid_argument(f"{what} name is required")
        if len(name) > MAX_NAME_LENGTH:
            raise invalid_argument(f"{what} name is longer than {MAX_NAME_LENGTH} characters")
        return name

    # -- pipelines -------------------------------------------------------------------------

    def list_pipelines(self, who: Principal, namespace: str | None, params: ListParams) -> dict:
        ns = self.namespace(namespace)
        self.access.check_read(who, ns)
        query = params.query(PIPELINES)
        page = self.store.list_pipelines(ns, query)
        return page.to_json("pipelines", pipeline_json)

    def get_pipeline(self, who: Principal, pipeline_id: str) -> dict:
        return pipeline_json(self._pipeline(who, pipeline_id))

    def get_pipeline_by_name(self, who: Principal, name: str, namespace: str | None) -> dict:
        ns = self.namespace(namespace)
        self.access.check_read(who, ns)
        return pipeline_json(self.store.get_pipeline_by_name(ns, name))

    def check_can_create(self, who: Principal, namespace: str | None) -> str:
        ns = self.namespace(namespace)
        self.access.check_write(who, ns)
        return ns

    def create_pipeline(self, who: Principal, pipeline: dict[str, Any]) -> dict:
        ns = self.check_can_create(who, pipeline.get("namespace"))
        new = NewPipeline(
            namespace=ns,
            name=self._check_name(
                pipeline.get("name") or pipeline.get("display_name") or "", "pipeline"
            ),
            display_name=pipeline.get("display_name") or "",
            description=pipeline.get("description") or "",
            tags=check_tags(pipeline.get("tags")),
        )
        return pipeline_json(self.store.create_pipeline(new))

    def upload_pipeline(
        self,
        who: Principal,
        spec: ParsedSpec,
        *,
        filename: str,
        name: str = "",
        display_name: str = "",
        description: str = "",
        namespace: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> dict:
        ns = self.check_can_create(who, namespace)
        final_name = self._check_name(build_name(name, display_name, filename), "pipeline")
        pipeline = NewPipeline(ns, final_name, display_name or final_name, description, tags or {})
        version = NewVersion(final_name, spec, display_name or final_name, description, tags or {})
        row, _ = self.store.create_pipeline_and_version(pipeline, version)
        return pipeline_json(row)

    def create_pipeline_and_version(
        self, who: Principal, pipeline: dict[str, Any], version: dict[str, Any], spec: ParsedSpec
    ) -> dict:
        ns = self.check_can_create(who, pipeline.get("namespace"))
        url = (version.get("package_url") or {}).get("pipeline_url", "")
        final_name = self._check_name(
            build_name(
                pipeline.get("name", ""), pipeline.get("display_name", ""), url.rsplit("/", 1)[-1]
            ),
            "pipeline",
        )
        display = pipeline.get("display_name") or final_name
        new_pipeline = NewPipeline(
            ns,
            final_name,
            display,
            pipeline.get("description", ""),
            check_tags(pipeline.get("tags")),
        )
        new_version = NewVersion(
            name=final_name,
            spec=spec,
            display_name=display,
            description=pipeline.get("description", ""),
            tags=check_tags(version.get("tags")),
            package_url=url,
            code_source_url=version.get("code_source_url", ""),
        )
        row, _ = self.store.create_pipeline_and_version(new_pipeline, new_version)
        return pipeline_json(row)

    def update_pipeline(self, who: Principal, pipeline_id: str, changes: dict[str, Any]) -> dict:
        """PATCH: as KFP, only ``display_name`` (when non-empty) and ``tags`` change."""
        self._pipeline(who, pipeline_id, write=True)
        tags = check_tags(changes["tags"]) if changes.get("tags") is not None else None
        display_name = self._check_display_name(changes.get("display_name"))
        return pipeline_json(self.store.update_pipeline(pipeline_id, display_name, tags))

    def update_version(
        self, who: Principal, pipeline_id: str, version_id: str, changes: dict[str, Any]
    ) -> dict:
        self._pipeline(who, pipeline_id, write=True)
        tags = check_tags(changes["tags"]) if changes.get("tags") is not None else None
        display_name = self._check_display_name(changes.get("display_name"))
        row = self.store.update_version(pipeline_id, version_id, display_name, tags)
        return version_json(row)

    @staticmethod
    def _check_display_name(value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise invalid_argument("display_name must be a string")
        return value

    def delete_pipeline(self, who: Principal, pipeline_id: str, cascade: bool) -> None:
        self._pipeline(who, pipeline_id, write=True)
        self.store.delete_pipeline(pipeline_id, cascade)

    # -- versions --------------------------------------------------------------------------

    def check_can_add_version(self, who: Principal, pipeline_id: str) -> None:
        if not pipeline_id:
            raise invalid_argument("pipeline id is required (query parameter pipelineid)")
        self._pipeline(who, pipeline_id, write=True)

    def upload_version(
        self,
        who: Principal,
        spec: ParsedSpec,
        *,
        pipeline_id: str,
        filename: str,
        name: str = "",
        display_name: str = "",
        description: str = "",
        tags: dict[str, str] | None = None,
        package_url: str = "",
        code_source_url: str = "",
    ) -> dict:
        self.check_can_add_version(who, pipeline_id)
        final_name = self._check_name(build_name(name, display_name, filename), "pipeline version")
        new = NewVersion(
            final_name,
            spec,
            display_name or final_name,
            description,
            tags or {},
            package_url,
            code_source_url,
        )
        return version_json(self.store.create_version(pipeline_id, new))

    def get_version(self, who: Principal, pipeline_id: str, version_id: str) -> dict:
        self._pipeline(who, pipeline_id)
        return version_json(self.store.get_version(version_id, pipeline_id))

    def list_versions(self, who: Principal, pipeline_id: str, params: ListParams) -> dict:
        self._pipeline(who, pipeline_id)
        query = params.query(VERSIONS)
        page = self.store.list_versions(pipeline_id, query)
        return page.to_json("pipeline_versions", version_json)

    def delete_version(self, who: Principal, pipeline_id: str, version_id: str) -> None:
        self._pipeline(who, pipeline_id, write=True)
        self.store.delete_version(pipeline_id, version_id)
