"""What went wrong reaching ML Metadata, said so a user can act on it (never a traceback)."""

from __future__ import annotations

import ssl
from typing import Any

from jupyter_dsp.results.mlmd.endpoint import MLMDEndpoint


class MLMDError(Exception):
    """A results piece that could not be read; ``status`` is the HTTP status that fits."""

    def __init__(self, message: str, status: int = 502) -> None:
        self.status = status
        super().__init__(message)


def explain_rpc_error(exc: BaseException, ep: MLMDEndpoint) -> MLMDError:
    where = f"ML Metadata at {ep.target} ({ep.transport}, {ep.how})"
    from jupyter_dsp.results.mlmd.grpcweb import GrpcWebError

    if isinstance(exc, GrpcWebError):
        if exc.http_status == 401:
            return MLMDError(
                f"{where}: the token was rejected (401) for {ep.identity or 'this identity'}",
                status=401,
            )
        if exc.http_status == 403:
            need = f"; it needs {ep.grant}" if ep.grant else ""
            return MLMDError(
                f"{where}: 403 Forbidden for {ep.identity or 'this identity'}{need}", status=403
            )
        if exc.http_status is not None:
            return MLMDError(f"{where}: {exc}", status=502)
        return MLMDError(f"{where}: {exc}", status=502)
    tls = _tls_reason(exc)
    if tls:
        ca = f"CA bundle {ep.ca_bundle} ({ep.ca_source})" if ep.ca_bundle else "the system CAs"
        return MLMDError(f"{where}: TLS verification failed against {ca}: {tls}", status=502)
    code = getattr(exc, "code", None)
    if callable(code):  # grpc.RpcError
        name = getattr(code(), "name", str(code()))
        details = exc.details() if hasattr(exc, "details") else str(exc)  # type: ignore[attr-defined]
        if name == "UNAVAILABLE":
            return MLMDError(f"{where}: unreachable ({_short(details)})", status=502)
        if name == "DEADLINE_EXCEEDED":
            return MLMDError(f"{where}: no answer in time", status=504)
        return MLMDError(f"{where}: {name} {_short(details)}", status=502)
    text = _short(str(exc))
    hint = (
        " (the DSPA's MLMD proxy exists while spec.mlmd.envoy.deployRoute is true, the default)"
        if ep.grant
        else ""
    )
    if "refused" in text.lower():
        return MLMDError(f"{where}: connection refused ({text}){hint}", status=502)
    if "NameResolution" in text or "Name or service not known" in text:
        return MLMDError(f"{where}: unreachable, the name does not resolve{hint}", status=502)
    if "timed out" in text.lower() or "timeout" in type(exc).__name__.lower():
        return MLMDError(f"{where}: no answer in time ({text})", status=504)
    return MLMDError(f"{where}: {type(exc).__name__}: {text}", status=502)


def _tls_reason(exc: BaseException) -> str | None:
    seen: set[int] = set()
    cur: Any = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, ssl.SSLError):
            return _short(str(cur))
        text = str(cur)
        if "CERTIFICATE_VERIFY_FAILED" in text or "SSLError" in type(cur).__name__:
            return _short(text)
        cur = getattr(cur, "reason", None) or cur.__cause__ or cur.__context__
    return None


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
