"""Errors in the KFP API's JSON shapes, and reading a stack's answers (its error messages,
the JSON object it answered)."""

from __future__ import annotations

import json
from typing import Any

# HTTP status -> gRPC code, as the KFP gRPC gateway maps them
GRPC_CODE = {
    400: 3,  # INVALID_ARGUMENT
    401: 16,  # UNAUTHENTICATED
    403: 7,  # PERMISSION_DENIED
    404: 5,  # NOT_FOUND
    405: 12,  # UNIMPLEMENTED
    409: 6,  # ALREADY_EXISTS
    413: 11,  # OUT_OF_RANGE
    500: 13,  # INTERNAL
    502: 14,  # UNAVAILABLE
    503: 14,  # UNAVAILABLE
    504: 4,  # DEADLINE_EXCEEDED
}


class ProxyError(Exception):
    """An error the proxy answers itself, with a status and a message for the user."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(message)


def kfp_error_body(status: int, message: str, *, upload: bool = False) -> bytes:
    """KFP error JSON ``{code, message, details}``; upload endpoints ``{error_message, ...}``."""
    payload: dict[str, Any]
    if upload:
        payload = {"error_message": message, "error_details": message}
    else:
        payload = {"code": GRPC_CODE.get(status, 2), "message": message, "details": []}
    return json.dumps(payload).encode("utf-8")


def upstream_message(body: bytes) -> str:
    """The message inside a KFP (or Kubernetes Status) error body, if any."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace").strip()[:500]
    if isinstance(data, dict):
        for key in ("message", "error_message", "error"):
            if isinstance(data.get(key), str) and data[key]:
                return data[key][:500]
    return ""


def stack_json(body: bytes, what: str = "something") -> dict[str, Any]:
    """The JSON object a stack answered; anything else is a 502 that says so."""
    try:
        data = json.loads(body)
    except ValueError:
        raise ProxyError(502, f"the pipeline stack answered {what} that is not JSON") from None
    if not isinstance(data, dict):
        raise ProxyError(502, "the pipeline stack answered an unexpected JSON value")
    return data
