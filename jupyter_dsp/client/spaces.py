"""Where the client talks to: one space for the project namespace, one for shared pipelines.

:class:`jupyter_dsp.connection.Space` objects fit :class:`SpaceLike`; :class:`StaticSpace` is the
same thing built from explicit arguments (tests, scripts, or a stack the resolver does not know).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from jupyter_dsp.client.errors import guard_api_client, remember_token

PROJECT = "project"
SHARED = "shared"
# a single-user project stack's platform-managed pipelines, shown in the shared space beside a
# catalog stack (common/managed.py); without a catalog they are the shared space itself
MANAGED = "managed"


@runtime_checkable
class SpaceLike(Protocol):
    name: str
    endpoint: str
    namespace: str
    ca_bundle: str | None
    multi_user: bool
    writable: bool

    def token(self) -> str | None: ...


@dataclass
class StaticSpace:
    """A space from explicit settings; the token is never part of its repr."""

    name: str
    endpoint: str
    namespace: str = ""
    ca_bundle: str | None = None
    multi_user: bool = True
    writable: bool = True
    token_value: str | None = field(default=None, repr=False)
    token_file: str | None = None

    def token(self) -> str | None:
        if self.token_file:
            try:
                return Path(self.token_file).expanduser().read_text(encoding="utf-8").strip()
            except OSError:
                return None
        return self.token_value


def make_kfp_client(space: SpaceLike, user_namespace: str) -> Any:
    """A ``kfp.Client`` for ``space`` whose bearer token is re-read before every request.

    ``user_namespace`` becomes the client's default namespace (runs always live in the project
    namespace); giving one also keeps ``kfp.Client`` from probing the cluster at construction.
    """
    import kfp

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        client = kfp.Client(
            host=space.endpoint,
            namespace=user_namespace or "kubeflow",
            ssl_ca_cert=space.ca_bundle or None,
            existing_token=space.token() or None,
        )
    config = client.runs.api_client.configuration

    def refresh(cfg: Any) -> None:
        token = space.token()
        remember_token(token)
        if token:
            cfg.api_key["authorization"] = token
            cfg.api_key_prefix["authorization"] = "Bearer"
        else:
            cfg.api_key.pop("authorization", None)

    config.refresh_api_key_hook = refresh
    refresh(config)
    guard_api_client(client.runs.api_client)  # no token in what the kernel displays
    return client


def describe_endpoint(space: SpaceLike) -> str:
    """Host part of the endpoint, for messages (never a token)."""
    return space.endpoint.split("://", 1)[-1].split("/", 1)[0]
