"""The platform's managed pipelines on a single-user Data Science Pipelines stack.

The operator loads them into every project's stack and tags the pipeline and each version with
KFP tags (kubeflow/pipelines #12999) from ``MANAGED_PIPELINES_UPLOAD_TAGS``: ``managed=true``
and ``rhoai-version=<platform version>`` (data-science-pipelines-operator,
controllers/config/defaults.go; the API server parses ``key=value,key=value``). A list filter on
key ``tags.managed`` finds them. A single-user stack has no namespaces, so they are the
platform's shared pipelines: shown in the shared space (read-only, forkable), hidden from the
project's own.

``Space.managed``: ``"only"`` (a shared space showing the project stack's managed pipelines),
``"hide"`` (a project space on a single-user stack, without them) or ``""``.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

MANAGED_TAG = "managed"
MANAGED_VALUE = "true"
FILTER_KEY = f"tags.{MANAGED_TAG}"


def is_managed(tags: Any) -> bool:
    return isinstance(tags, dict) and str(tags.get(MANAGED_TAG, "")).lower() == MANAGED_VALUE


def managed_filter(existing: str | None, managed: str) -> str | None:
    """``existing`` (a KFP filter JSON, or None) with the predicate for ``managed`` added;
    unchanged when ``managed`` is empty. Raises ValueError for a filter that is not JSON."""
    if managed not in ("only", "hide"):
        return existing
    data: dict[str, Any] = {"predicates": []}
    if existing and existing.strip():
        raw = existing.strip()
        data = json.loads(raw if raw.startswith("{") else unquote(raw))
        if not isinstance(data, dict) or not isinstance(data.get("predicates", []), list):
            raise ValueError("a filter is a JSON object with a list of predicates")
        data.setdefault("predicates", [])
    operation = "EQUALS" if managed == "only" else "NOT_EQUALS"
    data["predicates"].append(
        {"key": FILTER_KEY, "operation": operation, "string_value": MANAGED_VALUE}
    )
    return json.dumps(data)


def read_only_message(pipeline: str | None = None) -> str:
    """Why a write to a managed pipeline is refused (through any space), and what to do."""
    what = f"pipeline {pipeline} is one of" if pipeline else "these are"
    return (
        f"{what} the platform's managed pipelines: they are managed by the platform (its "
        "operator installs and updates them) and are read-only through every space. Fork it "
        "into your project to change it (`%dsp fork NAME`, or Fork in the panel)."
    )
