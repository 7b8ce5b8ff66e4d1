"""The pipeline a run executes: a PipelineSpec and, optionally, its PlatformSpec.

A compiled pipeline arrives in one of three shapes and all end up as a
:class:`PipelineDocument`:

- YAML text of one or two documents (the PipelineSpec, then ``{"platforms": ...}``);
- a PipelineSpec as a JSON object (``{"pipelineInfo": ..., "root": ..., ...}``);
- the object ``kfp.Client`` sends when a pipeline has a platform spec,
  ``{"pipeline_spec": {...}, "platform_spec": {...}}``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml


class SpecError(ValueError):
    """The pipeline spec cannot be read (the message says why)."""


@dataclass(frozen=True)
class PipelineDocument:
    pipeline_spec: dict[str, Any]
    platform_spec: dict[str, Any] | None = None
    name: str = field(default="")

    def root_parameters(self) -> dict[str, dict[str, Any]]:
        """The root input parameter definitions, by name."""
        root = self.pipeline_spec.get("root") or {}
        params = (root.get("inputDefinitions") or {}).get("parameters") or {}
        return dict(params) if isinstance(params, dict) else {}

    def as_api_object(self) -> dict[str, Any]:
        """The ``pipeline_spec`` field of a Run as the KFP API returns it."""
        if self.platform_spec:
            return {"pipeline_spec": self.pipeline_spec, "platform_spec": self.platform_spec}
        return self.pipeline_spec


def _is_pipeline_spec(obj: Any) -> bool:
    return isinstance(obj, dict) and ("pipelineInfo" in obj or "root" in obj)


def _is_platform_spec(obj: Any) -> bool:
    return isinstance(obj, dict) and "platforms" in obj


def _from_objects(objects: list[Any]) -> PipelineDocument:
    pipeline: dict[str, Any] | None = None
    platform: dict[str, Any] | None = None
    for obj in objects:
        if obj is None:
            continue
        if isinstance(obj, dict) and "pipeline_spec" in obj:
            inner = obj.get("pipeline_spec")
            if not _is_pipeline_spec(inner):
                raise SpecError("pipeline_spec.pipeline_spec is not a pipeline spec")
            pipeline = inner
            if obj.get("platform_spec"):
                if not _is_platform_spec(obj["platform_spec"]):
                    raise SpecError("pipeline_spec.platform_spec has no 'platforms'")
                platform = obj["platform_spec"]
        elif _is_pipeline_spec(obj):
            if pipeline is not None:
                raise SpecError("the file holds more than one pipeline spec")
            pipeline = obj
        elif _is_platform_spec(obj):
            platform = obj
        else:
            raise SpecError(
                "the pipeline spec has a document that is neither a pipeline nor a platform spec"
            )
    if pipeline is None:
        raise SpecError(
            "no pipeline spec found (a compiled KFP pipeline has 'pipelineInfo' and 'root')"
        )
    info = pipeline.get("pipelineInfo") or {}
    name = info.get("name") if isinstance(info, dict) else None
    if not isinstance(name, str) or not name:
        raise SpecError("the pipeline spec has no pipelineInfo.name")
    if not isinstance(pipeline.get("root"), dict):
        raise SpecError("the pipeline spec has no root DAG")
    return PipelineDocument(pipeline_spec=pipeline, platform_spec=platform, name=name)


def load_pipeline_document(source: str | bytes | dict[str, Any]) -> PipelineDocument:
    """Read a compiled pipeline from YAML/JSON text or an already parsed object."""
    if isinstance(source, dict):
        return _from_objects([source])
    if isinstance(source, bytes):
        try:
            source = source.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SpecError("the pipeline spec is not UTF-8 text") from exc
    try:
        objects = list(yaml.safe_load_all(source))
    except yaml.YAMLError as exc:
        raise SpecError(f"the pipeline spec is not valid YAML: {exc}") from exc
    return _from_objects(objects)
