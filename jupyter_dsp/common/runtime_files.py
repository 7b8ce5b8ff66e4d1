"""Elyra's KFP runtime configurations, as the Open Data Hub dashboard mounts them into a
workbench (``metadata/runtimes/*.json``): the pipeline server's API, its dashboard page and
its object storage. Files are read in name order; one that cannot be read is skipped."""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Iterator
from typing import Any


def runtime_metadata(runtimes_dir: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each readable runtime file's path and its ``metadata`` object."""
    if not runtimes_dir:
        return
    for path in sorted(glob.glob(os.path.join(runtimes_dir, "*.json"))):
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, ValueError):
            continue
        meta = data.get("metadata") if isinstance(data, dict) else None
        if isinstance(meta, dict):
            yield path, meta


def runtime_url(runtimes_dir: str, key: str) -> tuple[str, str] | None:
    """The first runtime file with an http(s) URL at ``metadata.<key>``, and that URL."""
    for path, meta in runtime_metadata(runtimes_dir):
        url = meta.get(key)
        if isinstance(url, str) and url.startswith(("http://", "https://")):
            return path, url
    return None
