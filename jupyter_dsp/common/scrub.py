"""The egress scrubber: no bearer token (whole, or any JWT part) in what a user sees.

Used by the server extension for every answer and header that leaves it (every ``dsp/``
handler goes through :class:`Egress`, see ``server/egress.py``), and by the kernel for every
answer it receives from a stack (``client/spaces.py``), every value it displays and every
error it raises. A gateway that says "token eyJ... is expired", or a hostile stack that echoes
the token in a header, a JSON field or an artifact, must not put it on a notebook's screen, in
its file, or in the browser.

What is hidden, for each token: the token, each of its ``.``-separated (JWT) parts of at
least :data:`MIN_PART` characters, their percent-encoded forms, and the stable middle of their
base64 (standard and URL-safe) encodings at each of the three alignments. A secret is replaced
by ``[redacted]`` padded with ``*`` to its own length, so a ``Content-Length`` or a byte range
stays true. In a stream, a secret split across pieces is found (a bounded lookbehind), and a
fragment of a secret of at least :data:`MIN_PART` bytes at the very start or end of the stream
(what a ``Range`` read cut out of it) is hidden too. JSON text is read through its ``\\u00XX``
escapes of printable ASCII (rewritten as the characters, the same JSON), so an escaped token is
found as well.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import quote

REDACTED = b"[redacted]"
# a part shorter than this is too common to be a secret on its own (e.g. a tiny JWT header)
MIN_PART = 16

# a backslash pair, or a \u00XX escape of printable ASCII other than '"' and '\'
_JSON_ESCAPE = re.compile(rb"\\(?:\\|u00([2-7][0-9a-fA-F]))")


def _mask(secret: bytes) -> bytes:
    """What replaces ``secret``: the same length, so lengths and ranges stay true."""
    n = len(secret)
    return REDACTED[:n] if n <= len(REDACTED) else REDACTED + b"*" * (n - len(REDACTED))


def _base64_cores(raw: bytes) -> list[bytes]:
    """The characters of ``raw``'s base64 forms that do not depend on what surrounds it."""
    cores = []
    for shift in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            text = encode(b"\0" * shift + raw).rstrip(b"=")
            lead = -(-shift * 4 // 3)  # characters touched by the bytes before
            tail = len(text) - (((shift + len(raw)) // 3) * 4)  # ... and by the padding
            core = text[lead + (1 if shift else 0) : len(text) - max(tail, 0) - 1]
            if len(core) >= MIN_PART:
                cores.append(core)
    return cores


def _forms(secret: str) -> set[bytes]:
    raw = secret.encode("utf-8")
    forms = {raw, quote(secret, safe="").encode("ascii")}
    forms.add("".join(f"%{b:02X}" for b in raw).encode("ascii"))
    forms.add("".join(f"%{b:02x}" for b in raw).encode("ascii"))
    forms.update(_base64_cores(raw))
    return {form for form in forms if len(form) >= MIN_PART}


@lru_cache(maxsize=64)
def _secrets_for(token: str) -> frozenset[bytes]:
    found: set[bytes] = set()
    if len(token) >= MIN_PART:
        found |= _forms(token)
    for part in token.split("."):
        if len(part) >= MIN_PART:
            found |= _forms(part)
    return frozenset(found)


def secrets_of(tokens: Iterable[str | None]) -> list[bytes]:
    """The byte strings to hide for these tokens, longest first."""
    found: set[bytes] = set()
    for token in tokens:
        if token and token.strip():
            found |= _secrets_for(token.strip())
    return sorted(found, key=len, reverse=True)


def unescape_json(data: bytes) -> bytes:
    """``\\u00XX`` escapes of printable ASCII as the characters (the same JSON text)."""
    if b"\\u00" not in data:
        return data

    def one(m: re.Match[bytes]) -> bytes:
        code = m.group(1)
        if code is None:
            return m.group(0)
        char = int(code, 16)
        return m.group(0) if char in (0x22, 0x5C) else bytes([char])

    return _JSON_ESCAPE.sub(one, data)


def scrub_bytes(data: bytes, secrets: list[bytes], *, pieces: bool = True) -> bytes:
    """``data`` without the secrets (each replaced by a mask of its length) and, with
    ``pieces``, without the pieces of them :func:`_scrub_pieces` finds."""
    for secret in secrets:
        if secret in data:
            data = data.replace(secret, _mask(secret))
    return _scrub_pieces(data, secrets) if pieces else data


_windows_cache: dict[tuple[bytes, ...], list[tuple[bytes, bytes, int]]] = {}


def _windows(secrets: list[bytes]) -> list[tuple[bytes, bytes, int]]:
    """``(window, secret, offset)``: the secrets' MIN_PART-byte windows at every MIN_PART-th
    offset. A piece of a secret of ``2 * MIN_PART - 1`` bytes or more holds one of them."""
    key = tuple(secrets)
    found = _windows_cache.get(key)
    if found is None:
        # the tokens as sent (a JWT whole holds its parts; encoded forms are only ever
        # echoed whole): windows of those few keep this cheap on large bodies
        raw = [x for x in secrets if b"%" not in x]
        jwts = [x for x in raw if x.count(b".") == 2]
        sources = jwts or sorted(raw, key=len)[-1:]
        found = [
            (secret[at : at + MIN_PART], secret, at)
            for secret in sources
            for at in range(0, len(secret) - MIN_PART + 1, MIN_PART)
        ]
        if len(_windows_cache) > 64:
            _windows_cache.clear()
        _windows_cache[key] = found
    return found


def _scrub_pieces(data: bytes, secrets: list[bytes]) -> bytes:
    """Masks every piece of a secret long enough to hold one of its windows (a stack may
    echo a cut piece of a token, not only whole parts), extended as far as it matches."""
    if len(data) < 2 * MIN_PART - 1 or not secrets:
        return data
    out: bytearray | None = None
    for window, secret, offset in _windows(secrets):
        at = data.find(window)
        while at >= 0:
            lo, so = at, offset
            while lo > 0 and so > 0 and data[lo - 1] == secret[so - 1]:
                lo, so = lo - 1, so - 1
            hi, se = at + MIN_PART, offset + MIN_PART
            while hi < len(data) and se < len(secret) and data[hi] == secret[se]:
                hi, se = hi + 1, se + 1
            if out is None:
                out = bytearray(data)
            out[lo:hi] = b"*" * (hi - lo)
            at = data.find(window, hi)
    return data if out is None else bytes(out)


def scrub_text(text: str, secrets: list[bytes]) -> str:
    if not secrets or not text:
        return text
    raw = text.encode("utf-8", "surrogatepass")
    cleaned = scrub_bytes(raw, secrets)
    return text if cleaned == raw else cleaned.decode("utf-8", "surrogatepass")


def scrub_fragments(text: str, secrets: list[bytes]) -> str:
    """``text`` with every run of :data:`MIN_PART` or more bytes of a secret masked, wherever
    it starts in the secret: for short values a stack chose (header values, a file name), which
    may carry a cut piece of a token rather than a whole part. Quadratic in the secrets'
    length: not for bodies."""
    raw = scrub_text(text, secrets).encode("utf-8", "surrogatepass")
    if not secrets or len(raw) < MIN_PART:
        return raw.decode("utf-8", "surrogatepass")
    hit = bytearray(len(raw))
    for secret in secrets:
        for i in range(len(secret) - MIN_PART + 1):
            window = secret[i : i + MIN_PART]
            at = raw.find(window)
            while at >= 0:
                hit[at : at + MIN_PART] = b"\x01" * MIN_PART
                at = raw.find(window, at + 1)
    if not any(hit):
        return raw.decode("utf-8", "surrogatepass")
    masked = bytes(ord("*") if flag else b for b, flag in zip(raw, hit, strict=True))
    return masked.decode("utf-8", "replace")


def scrub_value(value: object, secrets: list[bytes]) -> object:
    """A JSON-like value (dicts, lists, strings) with every string scrubbed; keys too."""
    if not secrets:
        return value
    if isinstance(value, str):
        return scrub_text(value, secrets)
    if isinstance(value, bytes):
        return scrub_bytes(value, secrets)
    if isinstance(value, dict):
        return {scrub_value(k, secrets): scrub_value(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_value(v, secrets) for v in value]
    if isinstance(value, tuple):
        return tuple(scrub_value(v, secrets) for v in value)
    return value


def _head_fragment(data: bytes, secrets: list[bytes]) -> int:
    """How many leading bytes of ``data`` are a piece of a secret (>= MIN_PART of it, from
    anywhere in the secret: a range read may begin inside one)."""
    probe = data[:MIN_PART]
    if len(probe) < MIN_PART:
        return 0
    best = 0
    for secret in secrets:
        at = secret.find(probe)
        while at >= 0:
            k = MIN_PART
            while k < len(data) and at + k < len(secret) and data[k] == secret[at + k]:
                k += 1
            best = max(best, k)
            at = secret.find(probe, at + 1)
    return best


def _tail_fragment(data: bytes, secrets: list[bytes]) -> int:
    """How many trailing bytes of ``data`` are a piece of a secret (>= MIN_PART of it, from
    anywhere in the secret: a range read may end inside one)."""
    probe = data[-MIN_PART:]
    if len(probe) < MIN_PART:
        return 0
    best = 0
    n = len(data)
    for secret in secrets:
        at = secret.find(probe)
        while at >= 0:
            k = MIN_PART
            while (
                k < n
                and at - (k - MIN_PART) - 1 >= 0
                and (data[n - k - 1] == secret[at - (k - MIN_PART) - 1])
            ):
                k += 1
            best = max(best, k)
            at = secret.find(probe, at + 1)
    return best


class StreamScrubber:
    """Scrubs a body that arrives in pieces.

    Holds back a bounded tail (the longest secret, and room for a split JSON escape) so a
    secret split across two pieces is still found; the held bytes are never cut after a
    backslash, so a JSON escape is read whole. The first bytes are held until a secret's
    length has arrived, to hide a fragment a range read began inside a secret; :meth:`flush`
    hides one the stream ends inside."""

    def __init__(self, secrets: list[bytes], *, json: bool = False) -> None:
        self.secrets = secrets
        self.json = json
        self.keep = max((len(s) for s in secrets), default=1) + 8
        self.held = b""
        self.started = False

    def _clean(self, data: bytes) -> bytes:
        """Whole secrets only: the held tail may end in the start of one, which must stay
        whole until the rest arrives (pieces are masked as bytes are sent, :meth:`_out`)."""
        if self.json:
            data = unescape_json(data)
        return scrub_bytes(data, self.secrets, pieces=False)

    def _out(self, data: bytes) -> bytes:
        return _scrub_pieces(data, self.secrets)

    def _head(self, data: bytes) -> bytes:
        self.started = True
        cut = _head_fragment(data, self.secrets)
        return _mask(data[:cut]) + data[cut:] if cut else data

    def feed(self, chunk: bytes) -> bytes:
        if not self.secrets:
            return chunk
        data = self._clean(self.held + chunk)
        if not self.started:
            if len(data) < self.keep:
                self.held = data
                return b""
            data = self._head(data)
        cut = len(data) - self.keep
        while cut > 0 and data[cut - 1] == 0x5C:  # never end what is sent on a backslash
            cut -= 1
        if cut <= 0:
            self.held = data
            return b""
        self.held = data[cut:]
        return self._out(data[:cut])

    def flush(self) -> bytes:
        data, self.held = self.held, b""
        if not self.secrets or not data:
            return data
        data = self._clean(data)
        if not self.started:
            data = self._head(data)
        cut = _tail_fragment(data, self.secrets)
        data = data[: len(data) - cut] + _mask(data[len(data) - cut :]) if cut else data
        return self._out(data)
