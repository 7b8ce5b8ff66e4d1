"""What :func:`resolve` returns: a connection with its project and shared spaces."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

MODES = ("cluster-dspa", "cluster-kubeflow", "configured", "embedded")


class DSPConnectionError(Exception):
    """A connection problem the user can act on; the message says how."""


class NoStackFound(DSPConnectionError):
    """No pipeline stack could be found; the message lists what was tried."""

    def __init__(self, tried: list[str], hint: str) -> None:
        self.tried = list(tried)
        self.hint = hint
        lines = ["No pipeline stack found. Tried:"]
        lines += [f"  - {t}" for t in tried]
        lines.append(hint)
        super().__init__("\n".join(lines))


@dataclass
class Space:
    """One place pipelines live: the project namespace, or the shared catalog."""

    name: str  # "project" | "shared"
    endpoint: str  # base URL, no trailing slash
    namespace: str  # "" for shared
    multi_user: bool
    writable: bool
    ca_bundle: str | None = None
    ca_source: str | None = None  # where ca_bundle came from, for TLS error messages
    token_source: str | None = None  # "service-account token /path", never the token
    _token: Callable[[], str | None] = field(default=lambda: None, repr=False)
    health_error: str | None = None  # from the probe made while resolving
    # "only": the project stack's managed pipelines (a single-user stack's shared space);
    # "hide": a single-user project stack without them (see common/managed.py)
    managed: str = ""

    def token(self) -> str | None:
        """The current bearer token (re-read from its file when it rotated)."""
        return self._token()

    @property
    def endpoint_host(self) -> str:
        parts = urlsplit(self.endpoint)
        return parts.netloc

    def ssl_context(self) -> ssl.SSLContext | None:
        """TLS context verifying against this space's CA bundle (None for http)."""
        if urlsplit(self.endpoint).scheme != "https":
            return None
        ctx = (
            ssl.create_default_context(cafile=self.ca_bundle)
            if self.ca_bundle
            else (ssl.create_default_context())
        )
        return ctx


@dataclass
class Connection:
    mode: str
    namespace: str
    identity: str
    policy: str  # "read-write" | "read-only" | "off"
    project: Space
    shared: Space | None
    dspa_name: str | None = None  # cluster-dspa: the DataSciencePipelinesApplication
    notes: list[str] = field(default_factory=list)  # how it was found, for dsp/info
    # a single-user project stack's managed pipelines when the shared space is a catalog stack
    # (read-only, common/managed.py); None otherwise (without a catalog they are `shared`)
    managed: Space | None = None

    def space(self, name: str) -> Space | None:
        if name == "project":
            return self.project
        if name == "shared":
            return self.shared
        if name == "managed":
            return self.managed
        return None
