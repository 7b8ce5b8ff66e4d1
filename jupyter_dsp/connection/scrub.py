"""Removing secrets (a bearer token and, for a JWT, each of its parts) from text the user sees.

Used by the server extension (forwarded headers and bodies, dsp/info, dsp/logs) and by the
kernel (every :class:`jupyter_dsp.client.DSPError`, log text). A gateway that says
"token eyJ... is expired" must not put the token on a notebook's screen or in its file.
"""

from __future__ import annotations

from collections.abc import Iterable

REDACTED = b"[redacted]"
# JWT parts shorter than this are too common to be secret on their own (e.g. a tiny header)
MIN_PART = 8


def secrets_of(tokens: Iterable[str | None]) -> list[bytes]:
    """The byte strings to hide for these tokens: each token and each JWT part, longest first."""
    found: set[bytes] = set()
    for token in tokens:
        if not token:
            continue
        token = token.strip()
        if len(token) >= MIN_PART:
            found.add(token.encode())
        for part in token.split("."):
            if len(part) >= MIN_PART:
                found.add(part.encode())
    return sorted(found, key=len, reverse=True)


def scrub_bytes(data: bytes, secrets: list[bytes]) -> bytes:
    for secret in secrets:
        if secret in data:
            data = data.replace(secret, REDACTED)
    return data


def scrub_text(text: str, secrets: list[bytes]) -> str:
    if not secrets or not text:
        return text
    raw = text.encode("utf-8", "surrogatepass")
    cleaned = scrub_bytes(raw, secrets)
    return text if cleaned is raw else cleaned.decode("utf-8", "surrogatepass")


class StreamScrubber:
    """Scrubs a body that arrives in pieces: holds back the last ``len(longest) - 1`` bytes
    so a secret split across two pieces is still found."""

    def __init__(self, secrets: list[bytes]) -> None:
        self.secrets = secrets
        self.keep = max((len(s) for s in secrets), default=1) - 1
        self.held = b""

    def feed(self, chunk: bytes) -> bytes:
        if not self.secrets:
            return chunk
        data = scrub_bytes(self.held + chunk, self.secrets)
        if len(data) <= self.keep:
            self.held = data
            return b""
        cut = len(data) - self.keep
        self.held = data[cut:]
        return data[:cut]

    def flush(self) -> bytes:
        data, self.held = self.held, b""
        return data
