"""What leaves the server extension: one scrubber for every answer and header of every
``dsp/`` handler, and headers rebuilt from what they mean, never copied from a stack.

:class:`EgressHandlerMixin` sits under :class:`jupyter_dsp.server.handlers.DSPHandler`, so the
proxy, ``dsp/results``, ``dsp/artifacts``, ``dsp/diff``, ``dsp/logs`` and ``dsp/info`` (and
every error they answer) pass through it: each header value, the status line's reason and the
body (streamed through :class:`jupyter_dsp.common.scrub.StreamScrubber`, JSON read
through its escapes) lose every token the server holds (see ``DSPState.tokens``), whole or
any JWT part. Replacements keep lengths, so ``Content-Length`` and ranges stay true.
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

from tornado import httputil, web

from jupyter_dsp.common.scrub import StreamScrubber, scrub_fragments, secrets_of

# artifact bytes (dsp/artifacts, from a stack or a cluster's object storage): one read's cap
MAX_READ_ENV = "JUPYTER_DSP_MAX_ARTIFACT_READ"
DEFAULT_MAX_READ = 1024 * 1024 * 1024

# artifact types passed on as they are; anything else (HTML, SVG, script...) is sent as bytes
PASSED_CONTENT_TYPES = (
    "text/plain",
    "text/csv",
    "text/markdown",
    "application/json",
    "application/x-tar",
    "application/gzip",
    "application/zip",
    "image/png",
    "image/jpeg",
    "image/gif",
)


def content_type_of(value: str | None) -> str:
    """Never let an artifact be served as HTML or script from Jupyter's origin."""
    base = (value or "").split(";")[0].strip().lower()
    return str(value) if base in PASSED_CONTENT_TYPES else "application/octet-stream"


def max_read_bytes() -> int:
    raw = os.environ.get(MAX_READ_ENV, "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else DEFAULT_MAX_READ


_ETAG = re.compile(r'^(W/)?"[\x21\x23-\x7e]{0,200}"$')
_FALLBACK_UNSAFE = re.compile(r"[^A-Za-z0-9._ ()+,=@-]")
MAX_NAME = 200


def content_disposition(name: str, fallback: str = "download") -> str:
    """``attachment`` with ``name`` quoted per RFC 6266 / RFC 5987: an ASCII ``filename``
    (anything unsafe replaced) and the exact name as ``filename*`` (percent-encoded UTF-8)."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1].strip()[:MAX_NAME]
    name = "".join(ch for ch in name if ch.isprintable()) or fallback
    ascii_name = _FALLBACK_UNSAFE.sub("_", name).strip() or fallback
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def digits_header(value: str | None) -> str | None:
    """A byte count or offset as a header: digits only, else nothing."""
    text = (value or "").strip()
    return text if text.isdigit() and len(text) < 20 else None


def flag_header(value: str | None) -> str | None:
    text = (value or "").strip().lower()
    return text if text in ("true", "false") else None


def etag_header(value: str | None) -> str | None:
    text = (value or "").strip()
    return text if _ETAG.match(text) else None


def date_header(value: str | None) -> str | None:
    try:
        when: datetime = parsedate_to_datetime((value or "").strip())
    except (TypeError, ValueError, IndexError):
        return None
    return httputil.format_timestamp(when.timestamp())


def is_json_type(value: str | None) -> bool:
    base = (value or "").split(";")[0].strip().lower()
    return base == "application/json" or base.endswith("+json")


class EgressHandlerMixin(web.RequestHandler):
    """Every header and byte this handler sends is scrubbed of the server's tokens."""

    egress_type = ""
    _egress: StreamScrubber | None = None
    _egress_key: tuple[str, ...] | None = None
    _egress_secrets: list[bytes] = []

    def egress_tokens(self) -> list[str]:
        """The tokens this server holds; subclasses say where they are."""
        return []

    def egress_secrets(self) -> list[bytes]:
        tokens = tuple(sorted({t for t in self.egress_tokens() if t}))
        if tokens != self._egress_key:
            self._egress_key = tokens
            self._egress_secrets = secrets_of(tokens)
        return self._egress_secrets

    # ---- headers and the status line -----------------------------------------------
    def set_header(self, name: str, value: Any) -> None:
        if name.lower() == "content-type":
            self.egress_type = str(value)
        if isinstance(value, str):  # a header is short: cut pieces of a token go too
            value = scrub_fragments(value, self.egress_secrets())
        super().set_header(name, value)

    def add_header(self, name: str, value: Any) -> None:
        if isinstance(value, str):
            value = scrub_fragments(value, self.egress_secrets())
        super().add_header(name, value)

    def set_status(self, status_code: int, reason: str | None = None) -> None:
        if reason is not None:
            reason = scrub_fragments(reason, self.egress_secrets()).replace("\r", " ")
            reason = reason.replace("\n", " ")
        super().set_status(status_code, reason)

    # ---- the body -------------------------------------------------------------------
    def _scrubber(self) -> StreamScrubber:
        secrets = self.egress_secrets()
        if self._egress is None or self._egress.secrets is not secrets:
            held = self._egress.flush() if self._egress is not None else b""
            self._egress = StreamScrubber(secrets, json=is_json_type(self.egress_type))
            if held:
                super().write(self._egress.feed(held))
        return self._egress

    def write(self, chunk: str | bytes | dict[str, Any]) -> None:
        if isinstance(chunk, dict):
            chunk = web.escape.json_encode(chunk)
            self.set_header("Content-Type", "application/json; charset=UTF-8")
        data = chunk.encode("utf-8") if isinstance(chunk, str) else bytes(chunk)
        out = self._scrubber().feed(data)
        if out:
            super().write(out)

    def finish(self, chunk: Any = None, **kwargs: Any) -> Any:
        if "set_content_type" in kwargs:  # jupyter_server's APIHandler sets it in finish
            self.set_header("Content-Type", kwargs["set_content_type"])
        if chunk is not None:
            self.write(chunk)
        if self._egress is not None:
            tail = self._egress.flush()
            self._egress = None
            if tail:
                super().write(tail)
        return super().finish(**kwargs)

    def clear(self) -> None:
        self._egress = None  # a new answer: nothing of the old one is sent
        super().clear()
