"""Version lists without full specs: a streaming filter for the proxy.

``GET .../pipelines/{id}/versions`` answers ``{"pipeline_versions": [{..., "pipeline_spec":
{...}, "platform_spec": {...}}, ...], ...}``; a spec can be megabytes, a page 200 versions.
By default the proxy drops ``pipeline_spec`` and ``platform_spec`` from each listed version
as the answer streams through, holding only the current piece (plus the tail of an
unfinished string or number). ``?include_specs=true`` (consumed by the proxy, never forwarded)
passes the list unchanged; a version read by id always keeps its spec.

The filter is a small JSON scanner that only looks closely at the list's structure; inside a
dropped value it skips whole runs of bytes and complete strings with one regular expression
and counts brackets in bulk, so skipping a 10 MB spec costs a few C-level passes.
"""

from __future__ import annotations

import re
from itertools import accumulate

from jupyter_dsp.server.errors import ProxyError

OPT_IN = "include_specs"
DROPPED = frozenset({b"pipeline_spec", b"platform_spec"})
LIST_KEY = b"pipeline_versions"
_STRING = re.compile(rb'"(?>[^"\\]++|\\.)*+"', re.S)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_WS = b" \t\r\n"
_STEPS = bytes.maketrans(b"{[}]", b"\x01\x01\xff\xff")


def wants_specs(query: list[tuple[str, str]]) -> tuple[bool, list[tuple[str, str]]]:
    """(whether the caller asked for full specs, the query without the opt-in)."""
    rest = [(k, v) for k, v in query if k != OPT_IN]
    values = [v for k, v in query if k == OPT_IN]
    if not values:
        return False, rest
    value = values[0].strip().lower()
    if value not in ("true", "false"):
        raise ProxyError(400, f"{OPT_IN} must be true or false, not {values[0][:40]!r}")
    return value == "true", rest


class SpecStripper:
    """Feed the answer's bytes in pieces; get back the same JSON without the listed versions'
    ``pipeline_spec``/``platform_spec`` members. Only members of objects directly inside the
    top-level ``pipeline_versions`` array are dropped; anything else passes unchanged.

    Memory: the current piece plus the unfinished tail of a string (a spec's longest string
    while skipping; a version's longest kept string otherwise)."""

    def __init__(self) -> None:
        self.stack: list[int] = []  # '{' or '[' of each open container
        self.keys: list[bytes | None] = []  # the key that opened each container
        self.members: list[int] = []  # members written so far in each open object
        self.pending_key: bytes | None = None  # last key read
        self.expect_key = False
        self.held = b""  # bytes not yet understood (a split string or token)
        self.skip_depth = -1  # >= 0 while skipping a dropped value: its bracket depth
        self.skip_scalar = False
        self.dropped = 0  # bytes left out

    def _in_version(self) -> bool:
        return (
            len(self.stack) == 3
            and self.stack[0] == 0x7B
            and self.stack[1] == 0x5B
            and self.keys[1] == LIST_KEY
            and self.stack[2] == 0x7B
        )

    def feed(self, chunk: bytes) -> bytes:
        data = self.held + chunk if self.held else chunk
        out = bytearray()
        pos = self._run(data, 0, out)
        self.held = data[pos:]
        return bytes(out)

    def flush(self) -> bytes:
        """The end of the answer: whatever was held (only left for a truncated answer)."""
        data, self.held = self.held, b""
        return b"" if self.skip_depth >= 0 else data

    def _skip(self, data: bytes, pos: int) -> int:
        """Consume (part of) a dropped value; returns where to go on."""
        n = len(data)
        if self.skip_scalar:  # a number, true, false or null: ends at , } ] or space
            m = _SCALAR_END.search(data, pos)
            end = n if m is None else m.start()
            self.dropped += end - pos
            if m is not None:
                self.skip_scalar = False
                self.skip_depth = -1
            return end
        safe, brackets = _outside_strings(data, pos)
        steps = memoryview(brackets.translate(_STEPS)).cast("b")  # +1 per open, -1 per close
        if self.skip_depth + min(accumulate(steps), default=0) > 0:
            # the value cannot end inside this piece: take it whole
            closes = brackets.count(b"}") + brackets.count(b"]")
            self.skip_depth += len(brackets) - 2 * closes
            self.dropped += safe - pos
            return safe
        i = pos  # it may end here: walk this piece token by token
        while i < safe:
            c = data[i]
            if c == 0x22:
                i = _STRING.match(data, i).end()  # type: ignore[union-attr]
                continue
            if c in (0x7B, 0x5B):
                self.skip_depth += 1
            elif c in (0x7D, 0x5D):
                self.skip_depth -= 1
                if self.skip_depth == 0:
                    self.dropped += i + 1 - pos
                    self.skip_depth = -1
                    return i + 1
            i += 1
        self.dropped += safe - pos
        return safe

    def _run(self, data: bytes, pos: int, out: bytearray) -> int:
        n = len(data)
        while pos < n:
            if self.skip_depth >= 0:
                new = self._skip(data, pos)
                if self.skip_depth >= 0 and new == pos:
                    return pos  # an unfinished string inside the value: wait for more
                pos = new
                continue
            c = data[pos]
            if c == 0x22:  # a string: a key or a value
                m = _STRING.match(data, pos)
                if m is None:
                    return pos  # wait for its end
                end = m.end()
                if self.expect_key and self._in_version():
                    if data[pos + 1 : end - 1] in DROPPED:
                        first = _value_start(data, end)
                        if first is None:
                            return pos  # wait for the colon and the value's first byte
                        if data[first] == 0x22:
                            value = _STRING.match(data, first)
                            if value is None:
                                return pos
                            self.dropped += value.end() - pos
                            pos = value.end()
                        elif data[first] in (0x7B, 0x5B):
                            self.skip_depth = 1  # inside the value's opening bracket
                            self.dropped += first + 1 - pos
                            pos = first + 1
                        else:
                            self.skip_depth = 0
                            self.skip_scalar = True
                            self.dropped += first - pos
                            pos = first
                        self.expect_key = False
                        continue
                    if self.members[-1]:
                        out += b","
                    self.members[-1] += 1
                if self.expect_key:
                    self.pending_key = data[pos + 1 : end - 1]
                    self.expect_key = False
                out += data[pos:end]
                pos = end
                continue
            if c in (0x7B, 0x5B):  # { [
                self.stack.append(c)
                self.keys.append(self.pending_key if len(self.stack) == 2 else None)
                self.members.append(0)
                self.expect_key = c == 0x7B
                self.pending_key = None
            elif c in (0x7D, 0x5D) and self.stack:  # } ]
                self.stack.pop()
                self.keys.pop()
                self.members.pop()
                self.expect_key = False
            elif c == 0x2C:  # ,
                if self.stack and self.stack[-1] == 0x7B:
                    self.expect_key = True
                if self._in_version():
                    pos += 1
                    continue  # written before the next kept member instead
            out.append(c)
            pos += 1
        return pos


_SCALAR_END = re.compile(rb"[,}\]\s]")


def _outside_strings(data: bytes, pos: int) -> tuple[int, bytes]:
    """(end of the longest prefix of ``data[pos:]`` (which starts outside a string) that
    ends outside a string, the brackets of that prefix that are outside strings).

    All in C-level byte operations: escaped backslashes, then escaped quotes are removed
    (pairs taken from the start of each backslash run, as JSON reads them), so every quote
    left opens or closes a string."""
    seg = data[pos:]
    if b"\\" in seg:
        seg = seg.replace(b"\\\\", b"").replace(b'\\"', b"")
    parts = seg.split(b'"')
    outside = b"".join(parts[0::2]).translate(None, _NOT_BRACKET)
    if len(parts) % 2:  # every string closed
        return len(data), outside
    # an unfinished string at the end: stop at its opening quote (the last unescaped one)
    i = data.rfind(b'"', pos)
    while i > pos:
        run = i
        while run > pos and data[run - 1] == 0x5C:
            run -= 1
        if (i - run) % 2 == 0:
            break
        i = data.rfind(b'"', pos, i)
    return max(i, pos), outside


def _value_start(data: bytes, pos: int) -> int | None:
    """Position of a member value's first byte after its ``:`` (None: not in this piece)."""
    n = len(data)
    while pos < n and data[pos] in _WS:
        pos += 1
    if pos >= n or data[pos] != 0x3A:
        return None
    pos += 1
    while pos < n and data[pos] in _WS:
        pos += 1
    return pos if pos < n else None
