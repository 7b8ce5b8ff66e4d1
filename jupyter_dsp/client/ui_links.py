"""The cluster UI's links for the objects read in this kernel: set by ``connect()`` from
common/links.py, read by the records (``ui_url``)."""

from __future__ import annotations

from typing import Any

UI_LINKS: dict[str, Any] = {}
