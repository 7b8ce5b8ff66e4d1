"""Errors of the embedded stack, shaped like the KFP API server's.

The gRPC-gateway endpoints answer ``{"code": <grpc code>, "message": str, "details": []}``;
the multipart upload endpoints answer ``{"error_message": str, "error_details": str}``.
Every domain error raised by the store or the services is an :class:`ApiError`; the
handlers turn it into one of those bodies with the matching HTTP status.
"""

from __future__ import annotations

from typing import Any

# gRPC status codes (google.rpc.Code) and the HTTP status grpc-gateway maps them to.
GRPC_INVALID_ARGUMENT = 3
GRPC_NOT_FOUND = 5
GRPC_ALREADY_EXISTS = 6
GRPC_PERMISSION_DENIED = 7
GRPC_RESOURCE_EXHAUSTED = 8
GRPC_FAILED_PRECONDITION = 9
GRPC_INTERNAL = 13
GRPC_UNIMPLEMENTED = 12
GRPC_UNAUTHENTICATED = 16

_HTTP_FOR_GRPC = {
    GRPC_INVALID_ARGUMENT: 400,
    GRPC_NOT_FOUND: 404,
    GRPC_ALREADY_EXISTS: 409,
    GRPC_PERMISSION_DENIED: 403,
    GRPC_RESOURCE_EXHAUSTED: 429,
    GRPC_FAILED_PRECONDITION: 400,
    GRPC_INTERNAL: 500,
    GRPC_UNIMPLEMENTED: 501,
    GRPC_UNAUTHENTICATED: 401,
}


class ApiError(Exception):
    """An error with a gRPC code, an HTTP status and a message safe to show to the caller."""

    def __init__(self, grpc_code: int, message: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.grpc_code = grpc_code
        self.message = message
        self.http_status = http_status or _HTTP_FOR_GRPC.get(grpc_code, 500)

    def to_status(self) -> dict[str, Any]:
        """The body the gRPC-gateway endpoints answer."""
        return {"code": self.grpc_code, "message": self.message, "details": []}

    def to_upload_error(self) -> dict[str, Any]:
        """The body the multipart upload endpoints answer."""
        return {"error_message": self.message, "error_details": self.message}


def invalid_argument(message: str) -> ApiError:
    return ApiError(GRPC_INVALID_ARGUMENT, message)


def not_found(message: str) -> ApiError:
    return ApiError(GRPC_NOT_FOUND, message)


def already_exists(message: str) -> ApiError:
    return ApiError(GRPC_ALREADY_EXISTS, message)


def permission_denied(message: str) -> ApiError:
    return ApiError(GRPC_PERMISSION_DENIED, message)


def unauthenticated(message: str) -> ApiError:
    return ApiError(GRPC_UNAUTHENTICATED, message)


def failed_precondition(message: str) -> ApiError:
    return ApiError(GRPC_FAILED_PRECONDITION, message)


def too_large(message: str) -> ApiError:
    return ApiError(GRPC_RESOURCE_EXHAUSTED, message, http_status=413)


def unimplemented(message: str) -> ApiError:
    return ApiError(GRPC_UNIMPLEMENTED, message)
