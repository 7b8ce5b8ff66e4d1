"""Rows to KFP v2beta1 JSON: proto field names, empty fields omitted, RFC 3339 timestamps."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any


def rfc3339(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _drop_empty(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v not in ("", None, {}, [])}


def pipeline_json(row: Any) -> dict[str, Any]:
    return _drop_empty(
        {
            "pipeline_id": row["pipeline_id"],
            "display_name": row["display_name"],
            "name": row["name"],
            "description": row["description"],
            "created_at": rfc3339(row["created_at"]),
            "namespace": row["namespace"],
            "tags": json.loads(row["tags"]),
        }
    )


def version_json(row: Any, with_spec: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "pipeline_id": row["pipeline_id"],
        "pipeline_version_id": row["pipeline_version_id"],
        "display_name": row["display_name"],
        "name": row["name"],
        "description": row["description"],
        "created_at": rfc3339(row["created_at"]),
        "package_url": {"pipeline_url": row["package_url"]} if row["package_url"] else None,
        "code_source_url": row["code_source_url"],
        "tags": json.loads(row["tags"]),
    }
    if with_spec:
        data["pipeline_spec"] = json.loads(row["spec_json"])
    return _drop_empty(data)


def experiment_json(row: Any) -> dict[str, Any]:
    return _drop_empty(
        {
            "experiment_id": row["experiment_id"],
            "display_name": row["display_name"],
            "description": row["description"],
            "created_at": rfc3339(row["created_at"]),
            "namespace": row["namespace"],
            "storage_state": row["storage_state"],
            "last_run_created_at": rfc3339(row["last_run_created_at"]),
        }
    )
