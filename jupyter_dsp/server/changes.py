"""Change tokens for the live panel: one small upstream poll shared by every open panel.

The panel long-polls ``GET dsp/changes?watch=K1,K2&since=T1,T2`` with the lists it shows
(keys below) and the tokens it last saw; the answer comes as soon as one of those tokens
differs (or after ``LONG_POLL_S`` with the same tokens), and the panel refetches only the
lists whose token changed. While any panel waits, :class:`ChangeFeed` computes the tokens of
the union of watched keys once per ``interval`` (one cheap upstream request per key: a
1-item list sorted by create time, the first page of runs, one run); when nobody waits it
stops, so a hidden panel (which aborts its request) costs nothing on the server or upstream.

A token is an opaque short string (a hash of the upstream answer, or ``error-<status>``):
nothing of the stack's data and never a credential.

Keys::

    pipelines:project | pipelines:shared          newest pipeline and the count
    versions:project:<pipeline id> | versions:shared:<pipeline id>
    runs                                          the project's newest runs and their states
    recurringruns                                 the project's schedules and their status
    run:<run id>                                  one run (state, tasks)

Pure asyncio: no tornado, tests drive it with any async ``fetch(key) -> token``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from jupyter_dsp.server.errors import ProxyError

POLL_INTERVAL_S = 1.0
LONG_POLL_S = 25.0
MAX_KEYS = 64
_ID = r"[A-Za-z0-9][A-Za-z0-9_.~-]{0,127}"
KEY = re.compile(
    rf"^(?:pipelines:(?:project|shared)|versions:(?:project|shared):{_ID}"
    rf"|runs|recurringruns|run:{_ID})$"
)
TOKEN = re.compile(r"^[A-Za-z0-9-]{0,40}$")

Fetch = Callable[[str], Awaitable[str]]


@dataclass(frozen=True)
class KeySpec:
    kind: str  # pipelines | versions | runs | recurringruns | run
    space: str  # project | shared
    ident: str = ""  # pipeline id (versions) or run id (run)

    def upstream(self) -> tuple[str, list[tuple[str, str]]]:
        """The KFP API path (under the proxy's allowlist) and query that yield this token."""
        newest = [("sort_by", "created_at desc")]
        if self.kind == "pipelines":
            return "apis/v2beta1/pipelines", [("page_size", "1"), *newest]
        if self.kind == "versions":
            return f"apis/v2beta1/pipelines/{self.ident}/versions", [("page_size", "1"), *newest]
        if self.kind == "runs":
            return "apis/v2beta1/runs", [("page_size", "20"), *newest]
        if self.kind == "recurringruns":
            return "apis/v2beta1/recurringruns", [("page_size", "50"), *newest]
        return f"apis/v2beta1/runs/{self.ident}", []


def parse_key(key: str) -> KeySpec:
    if not KEY.match(key):
        raise ProxyError(400, f"unknown change key {key[:60]!r}")
    kind, _, rest = key.partition(":")
    if kind in ("pipelines",):
        return KeySpec(kind, rest)
    if kind == "versions":
        space, _, ident = rest.partition(":")
        return KeySpec(kind, space, ident)
    if kind == "run":
        return KeySpec(kind, "project", rest)
    return KeySpec(kind, "project")


def parse_request(watch: str, since: str) -> tuple[list[str], dict[str, str]]:
    """``watch`` (comma-separated keys) and ``since`` (the tokens last seen, same order,
    empty for none) into keys and a key -> token map; 400 for anything malformed."""
    keys = [k for k in watch.split(",") if k] if watch else []
    if not keys:
        raise ProxyError(400, "watch: give the comma-separated lists to watch")
    if len(keys) > MAX_KEYS:
        raise ProxyError(400, f"watch at most {MAX_KEYS} lists at once")
    if len(set(keys)) != len(keys):
        raise ProxyError(400, "watch names a list twice")
    for key in keys:
        parse_key(key)
    tokens = since.split(",") if since else []
    if tokens and len(tokens) != len(keys):
        raise ProxyError(400, "since must give one token per watched list (or none)")
    for token in tokens:
        if not TOKEN.match(token):
            raise ProxyError(400, "since: malformed token")
    return keys, dict(zip(keys, tokens, strict=False))


@dataclass
class _Waiter:
    keys: list[str]
    since: dict[str, str]
    future: asyncio.Future[dict[str, str]] = field(repr=False)


class ChangeFeed:
    """Tokens of the watched lists, polled upstream only while someone waits."""

    def __init__(
        self, fetch: Fetch, interval: float = POLL_INTERVAL_S, fetch_timeout: float = LONG_POLL_S
    ) -> None:
        self.fetch = fetch
        self.interval = interval
        # one list's read may not hold the round (a stack trickling one answer would freeze
        # every other list of every panel): past this it is an error token, retried next round
        self.fetch_timeout = fetch_timeout
        self.tokens: dict[str, str] = {}
        self._fresh: set[str] = set()  # keys read upstream in the latest round
        self.ticks = 0  # upstream rounds made (for tests and bench)
        self.upstream_requests = 0
        self._waiters: list[_Waiter] = []
        self._loop: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    @property
    def polling(self) -> bool:
        return self._loop is not None and not self._loop.done()

    def _changed(self, waiter: _Waiter) -> dict[str, str] | None:
        if any(k not in self._fresh for k in waiter.keys):
            return None  # a key nobody watched last round: its token may be old
        now = {k: self.tokens[k] for k in waiter.keys}
        if any(waiter.since.get(k) != v for k, v in now.items()):
            return now
        return None

    async def wait(
        self, keys: list[str], since: dict[str, str], timeout: float = LONG_POLL_S
    ) -> dict[str, str]:
        """The current tokens of ``keys`` as soon as one differs from ``since``, else after
        ``timeout`` (then as known, which may equal ``since``)."""
        future: asyncio.Future[dict[str, str]] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(list(keys), dict(since), future)
        if self.polling:
            ready = self._changed(waiter)
            if ready is not None:
                return ready
        self._waiters.append(waiter)
        if any(k not in self._fresh for k in keys):
            self._wake.set()  # a new list: poll it now rather than at the next tick
        if not self.polling:
            self._loop = asyncio.ensure_future(self._run())
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except asyncio.TimeoutError:
            return {k: self.tokens.get(k, since.get(k, "")) for k in keys}
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def close(self) -> None:
        """Stop polling (the server stops): every waiting long poll ends."""
        if self._loop is not None:
            self._loop.cancel()
        for waiter in self._waiters:
            if not waiter.future.done():
                waiter.future.cancel()
        self._waiters.clear()

    async def _token(self, key: str) -> str:
        self.upstream_requests += 1
        try:
            return await asyncio.wait_for(self.fetch(key), self.fetch_timeout)
        except asyncio.TimeoutError:
            return "error-504"
        except ProxyError as exc:
            return f"error-{exc.status}"
        except Exception:  # noqa: BLE001 - the panel refetches and shows the real error
            return "error-500"

    async def _run(self) -> None:
        try:
            while self._waiters:
                keys = sorted({k for w in self._waiters for k in w.keys})
                values = await asyncio.gather(*(self._token(k) for k in keys))
                self.ticks += 1
                self.tokens.update(zip(keys, values, strict=True))
                self._fresh = set(keys)
                for waiter in list(self._waiters):
                    ready = self._changed(waiter)
                    if ready is not None and not waiter.future.done():
                        waiter.future.set_result(ready)
                        self._waiters.remove(waiter)
                if not self._waiters:
                    break
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), self.interval)
                except asyncio.TimeoutError:
                    pass
        finally:
            # nobody watches: forget, so a panel coming back compares against fresh tokens
            self.tokens.clear()
            self._fresh = set()
            self._loop = None
