"""Bearer tokens read from files that rotate (projected service-account tokens)."""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass


class TokenFile:
    """A token kept in a file, read again whenever the file changes.

    Projected tokens are replaced about hourly (kubelet swaps a symlink), so the file is
    stat'ed on every use and re-read when its inode, size or mtime changed.
    """

    def __init__(self, path: str, source: str) -> None:
        self.path = path
        self.source = source  # where the path came from, for messages
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._token: str | None = None

    def read(self) -> str | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        with self._lock:
            if stamp != self._stamp:
                try:
                    with open(self.path, encoding="utf-8") as fh:
                        self._token = fh.read().strip() or None
                except OSError:
                    return None
                self._stamp = stamp
            return self._token

    def __repr__(self) -> str:  # never the token
        return f"TokenFile({self.path!r}, source={self.source!r})"


@dataclass(frozen=True)
class TokenChoice:
    token_file: TokenFile | None
    tried: tuple[str, ...]


def choose_token_file(
    configured: str, sa_dir: str, kubeflow_token_path: str, environ: Mapping[str, str]
) -> TokenChoice:
    """The token file in the order users expect: configured, KF_PIPELINES_SA_TOKEN_PATH,
    Kubeflow's projected pipelines token, the service-account token."""
    candidates: list[tuple[str, str]] = []
    if configured:
        candidates.append((configured, "DSPSettings.token_file"))
    if environ.get("KF_PIPELINES_SA_TOKEN_PATH"):
        candidates.append((environ["KF_PIPELINES_SA_TOKEN_PATH"], "KF_PIPELINES_SA_TOKEN_PATH"))
    candidates.append((kubeflow_token_path, "Kubeflow pipelines token"))
    candidates.append((os.path.join(sa_dir, "token"), "service-account token"))
    tried = []
    for path, source in candidates:
        tried.append(f"{source} {path}")
        if os.path.isfile(path):
            return TokenChoice(TokenFile(path, source), tuple(tried))
        if source in ("DSPSettings.token_file", "KF_PIPELINES_SA_TOKEN_PATH"):
            # an explicit choice that does not exist yet: keep it, it may appear (rotation)
            return TokenChoice(TokenFile(path, source), tuple(tried))
    return TokenChoice(None, tuple(tried))


def identity_from_token(token: str | None) -> str | None:
    """The subject of a JWT (a service-account token), decoded without verification.

    Used only to tell the user *who* the stack saw; never returns the token itself.
    """
    if not token or token.count(".") != 2:
        return None
    payload = token.split(".")[1]
    payload += "=" * (-len(payload) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (ValueError, UnicodeError):
        return None
    if not isinstance(claims, dict):
        return None
    sub = claims.get("sub")
    if isinstance(sub, str) and sub:
        return sub
    k8s = claims.get("kubernetes.io")
    if isinstance(k8s, dict):
        ns = k8s.get("namespace")
        sa = (k8s.get("serviceaccount") or {}).get("name")
        if ns and sa:
            return f"system:serviceaccount:{ns}:{sa}"
    return None
