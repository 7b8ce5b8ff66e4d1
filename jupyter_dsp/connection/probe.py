"""A blocking healthz probe, used while resolving (also from a kernel)."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass

from jupyter_dsp.connection.model import Space


@dataclass
class Health:
    ok: bool
    multi_user: bool | None = None
    status: int | None = None  # HTTP status when the stack answered
    error: str | None = None  # what went wrong (never contains the token)
    upstream_message: str = ""


def probe_healthz(space: Space, timeout: float) -> Health:
    url = space.endpoint + "/apis/v2beta1/healthz"
    req = urllib.request.Request(url, method="GET")
    token = space.token()
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        ctx = space.ssl_context()
    except (OSError, ssl.SSLError) as exc:
        from jupyter_dsp.connection.explain import tls_message

        return Health(False, error=tls_message(space, f"cannot load the CA bundle: {exc}"))
    try:
        # direct connection, like the proxy: no HTTP(S)_PROXY detour for the token
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=ctx)
        )
        with opener.open(req, timeout=timeout) as resp:
            body = resp.read(65536)
    except urllib.error.HTTPError as exc:
        message = _error_message(exc.read(4096))
        return Health(False, status=exc.code, error=f"HTTP {exc.code}", upstream_message=message)
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, ssl.SSLError):
            from jupyter_dsp.connection.explain import tls_message

            return Health(False, error=tls_message(space, str(reason)))
        return Health(False, error=f"cannot reach {space.endpoint_host}: {reason}")
    except (OSError, ValueError) as exc:
        return Health(False, error=f"cannot reach {space.endpoint_host}: {exc}")
    try:
        data = json.loads(body)
    except ValueError:
        return Health(False, error=f"{url} did not answer KFP healthz JSON")
    multi = data.get("multi_user") if isinstance(data, dict) else None
    return Health(True, multi_user=bool(multi) if multi is not None else False)


def _error_message(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")[:300]
    if isinstance(data, dict):
        return str(data.get("message") or data.get("error_message") or "")[:300]
    return ""
