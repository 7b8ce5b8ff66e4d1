"""Errors the kernel side raises: one line a user can act on, never a traceback."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import urllib3.exceptions
from kfp_server_api.exceptions import ApiException

from jupyter_dsp.common.scrub import (
    StreamScrubber,
    scrub_bytes,
    scrub_text,
    scrub_value,
    secrets_of,
    unescape_json,
)

# the tokens this kernel sent (newest last, a few kept across rotations): never shown back
_TOKENS: list[str] = []
_SECRETS: list[bytes] = []
MAX_TOKENS = 8


def remember_token(token: str | None) -> None:
    """Called with every token the client sends: errors and logs never show it back."""
    global _SECRETS
    if not token or token in _TOKENS:
        return
    _TOKENS.append(token)
    del _TOKENS[:-MAX_TOKENS]
    _SECRETS = secrets_of(_TOKENS)


def scrub(text: str) -> str:
    """``text`` without any token (or JWT part) this kernel has sent."""
    return scrub_text(text, _SECRETS)


def scrub_data(data: bytes) -> bytes:
    """Bytes without any token this kernel has sent (same length: masked in place)."""
    return scrub_bytes(data, _SECRETS) if _SECRETS else data


def scrub_json(value: Any) -> Any:
    """A JSON-like value (a results document...) with every string scrubbed."""
    return scrub_value(value, _SECRETS)


def scrub_chunks(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Streamed bytes scrubbed as they come (a token split across chunks is found)."""
    scrubber = StreamScrubber(_SECRETS)
    for chunk in chunks:
        out = scrubber.feed(chunk)
        if out:
            yield out
    tail = scrubber.flush()
    if tail:
        yield tail


def guard_api_client(api_client: Any) -> None:
    """Every answer this ``kfp_server_api`` client receives is scrubbed where it comes in:
    a preloaded body (the models ``%dsp show`` displays) and an error's body and reason.
    (Streamed answers are scrubbed by their readers: logs, results, artifacts.)"""
    rest = api_client.rest_client
    if getattr(rest, "_jupyter_dsp_guarded", False):
        return
    original = rest.request

    def request(*args: Any, **kwargs: Any) -> Any:
        try:
            response = original(*args, **kwargs)
        except ApiException as exc:
            if isinstance(exc.body, bytes):
                exc.body = scrub_data(unescape_json(exc.body))
            elif isinstance(exc.body, str):
                exc.body = scrub(unescape_json(exc.body.encode()).decode("utf-8", "replace"))
            if isinstance(exc.reason, str):
                exc.reason = scrub(exc.reason)
            raise
        if not kwargs.get("_preload_content", True):
            return response  # a stream: reading .data here would consume it (its reader scrubs)
        data = getattr(response, "data", None)
        if isinstance(data, bytes) and _SECRETS:
            if "json" in str(response.getheader("Content-Type") or "").lower():
                data = unescape_json(data)  # the same JSON, an escaped token made findable
            response.data = scrub_data(data)
        return response

    rest.request = request
    rest._jupyter_dsp_guarded = True


_HINTS: dict[int, str] = {
    400: "Check the values you passed.",
    401: "The stack refused the credentials: `%dsp connect` again or check the token file.",
    403: "Your identity may not do this here: use your project space or ask for access.",
    404: "Check the name or id (`%dsp list`, `%dsp runs`).",
    409: "It already exists: choose another name.",
    413: "The file is too large (32 MB at most).",
}


class DSPError(Exception):
    """A failure reported by (or on the way to) the pipelines stack.

    IPython shows it as a single line (``_render_traceback_``) instead of a traceback.
    """

    def __init__(self, message: str, *, status: int | None = None, hint: str | None = None):
        message = scrub(message)
        hint = scrub(hint) if hint else hint
        super().__init__(message)
        self.message = message
        self.status = status
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


class NotFoundError(DSPError):
    """The pipeline, version or run does not exist (or is not visible)."""


class ArgumentError(DSPError):
    """Bad input from the caller (a parameter value, a file, a name)."""

    def __init__(self, message: str, *, parameter: str | None = None):
        super().__init__(message, status=400)
        self.parameter = parameter


def _server_message(exc: ApiException) -> str:
    body = exc.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if body:
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if isinstance(data, dict):
            for key in ("message", "error_message"):
                if data.get(key):
                    return str(data[key]).strip()
        text = str(body).strip().splitlines()
        if text and len(text[0]) < 300:
            return text[0]
    return str(exc.reason or "no details").strip()


def error_from_api(exc: ApiException, action: str, where: str) -> DSPError:
    """Turn a ``kfp_server_api`` exception into a one-line :class:`DSPError`."""
    status = int(exc.status or 0)
    message = f"{action} failed on {where}: {_server_message(exc)} (HTTP {status})."
    if status == 0:
        return DSPError(
            f"{action} failed: cannot reach {where} ({exc.reason}).",
            hint="Is the stack running? Check `%dsp info`.",
        )
    cls = NotFoundError if status == 404 else DSPError
    hint = _HINTS.get(status) or ("The stack failed: look at its log." if status >= 500 else None)
    if status == 403:
        from jupyter_dsp.connection.explain import sar_grant

        hint = sar_grant(_server_message(exc), "you") or hint
    return cls(message, status=status, hint=hint)


@contextmanager
def api_errors(action: str, where: str) -> Iterator[None]:
    """Translate HTTP and connection failures inside the block into :class:`DSPError`."""
    try:
        yield
    except ApiException as exc:
        raise error_from_api(exc, action, where) from None
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise DSPError(
            f"{action} failed: cannot reach {where} ({type(reason).__name__}).",
            hint="Is the stack running? Check `%dsp info`, or `%dsp connect` again.",
        ) from None
