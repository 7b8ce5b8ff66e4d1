"""A run's Markdown and links made safe to show as HTML in the user's Jupyter origin.

A pipeline's report is someone else's content (a teammate's run, a shared pipeline, a catalog
entry). JupyterLab, Notebook 7 and VS Code render a live cell's ``text/html`` and
``text/markdown`` without sanitizing, so a report is never shown as ``text/markdown``: it is
rendered by markdown-it-py (CommonMark, tables, strikethrough; raw HTML kept) and cleaned by nh3
(ammonia's allowlist: no script, style, iframe, object, svg, form, no ``on*`` attribute), with
links and image sources kept only for http(s), mailto and relative URLs (``javascript:``,
``vbscript:``, ``data:`` and every other scheme dropped).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import nh3
from markdown_it import MarkdownIt

URL_SCHEMES = frozenset({"http", "https", "mailto"})


@lru_cache(maxsize=1)
def _markdown() -> Any:
    # commonmark with raw HTML on (reports use <details>, <b>, ...): nh3 cleans what it makes
    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def clean_html(html: str) -> str:
    """``html`` reduced to inert markup: nh3's default tags and attributes, no comments, links
    only to http(s)/mailto/relative URLs, each with ``rel="noopener noreferrer"``."""
    return nh3.clean(
        html,
        url_schemes=set(URL_SCHEMES),
        strip_comments=True,
        link_rel="noopener noreferrer",
    )


def markdown_html(text: str) -> str:
    """Markdown ``text`` as sanitized HTML (see :func:`clean_html`)."""
    return clean_html(_markdown().render(text))


def safe_url(url: str | None) -> str | None:
    """``url`` when it is an absolute http(s) URL (a link out to a cluster UI), else None."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url.strip()
