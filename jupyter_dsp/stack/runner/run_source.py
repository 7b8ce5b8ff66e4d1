"""Which pipeline a run request runs: a version of a stored pipeline, or an inline spec.

A run may use a pipeline version of its own namespace or a shared one (readable by
everyone); the stored spec is loaded from its JSON (checked at upload), an inline one is
checked here.
"""

from __future__ import annotations

import json
from typing import Any

from jupyter_dsp.stack.auth import Access, Principal
from jupyter_dsp.stack.errors import (
    failed_precondition,
    invalid_argument,
    not_found,
    permission_denied,
)
from jupyter_dsp.stack.pipelines_store import PipelineStore
from jupyter_dsp.stack.runner.spec import PipelineDocument, SpecError, load_pipeline_document


def string_field(body: dict[str, Any], name: str) -> str:
    """``body[name]``: a string, or ``""`` when absent or null."""
    value = body.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise invalid_argument(f"Field {name!r} must be a string")
    return value


def pipeline_to_run(
    access: Access, store: PipelineStore, who: Principal, body: dict[str, Any], namespace: str
) -> tuple[PipelineDocument, str, str]:
    """The pipeline a run request (or a recurring run) in ``namespace`` runs: (document,
    pipeline_id, pipeline_version_id); ``who`` needs view on it."""
    reference = body.get("pipeline_version_reference")
    inline = body.get("pipeline_spec")
    version_id = string_field(body, "pipeline_version_id")
    pipeline_id = ""
    if reference is not None:
        if not isinstance(reference, dict):
            raise invalid_argument("pipeline_version_reference must be an object")
        unknown = set(reference) - {"pipeline_id", "pipeline_version_id"}
        if unknown:
            raise invalid_argument(
                f"Unknown field {sorted(unknown)[0]!r} in pipeline_version_reference"
            )
        pipeline_id = string_field(reference, "pipeline_id")
        version_id = string_field(reference, "pipeline_version_id") or version_id
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
    access.check_read(who, pipeline["namespace"])
    if access.multi_user and pipeline["namespace"] not in ("", namespace):
        raise permission_denied(
            f"A run in namespace {namespace!r} cannot use a pipeline of namespace"
            f" {pipeline['namespace']!r} (use one of its own namespace or a shared one)"
        )
    try:  # the spec as JSON (stored at upload, already checked): no YAML to parse
        document = load_pipeline_document(json.loads(version["spec_json"]))
    except (SpecError, ValueError) as exc:
        raise invalid_argument(f"The pipeline version cannot run: {exc}") from None
    return document, version["pipeline_id"], version["pipeline_version_id"]
