"""Small raw-HTTP helpers shared by the stack tests (tests/ is on sys.path)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests
from reference import COMPILED, INVALID, REFERENCE, SWAGGER, VALID, require

__all__ = ["COMPILED", "INVALID", "REFERENCE", "SWAGGER", "VALID"]
API = "/apis/v2beta1"


def call(stack: Any, method: str, path: str, token: Any = None, **kwargs: Any) -> requests.Response:
    """``token=None``: the stack's default token; ``token=False``: no Authorization header."""
    headers = kwargs.pop("headers", {})
    if token is not False:
        headers["Authorization"] = f"Bearer {token or stack.token}"
    return requests.request(method, stack.url + API + path, headers=headers, timeout=60, **kwargs)


def upload_bytes(
    stack: Any,
    filename: str,
    data: bytes,
    token: Any = None,
    endpoint: str = "/pipelines/upload",
    **params: str,
) -> requests.Response:
    return call(
        stack, "POST", endpoint, token, params=params, files={"uploadfile": (filename, data)}
    )


def upload(stack: Any, name: str, token: Any = None, path: str = "hello_world.yaml", **params: str):
    data = require(VALID / path).read_bytes()
    return upload_bytes(stack, Path(path).name, data, token, name=name, **params)


def assert_kfp_error(response: requests.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "message", "details"}, body
    assert isinstance(body["code"], int) and body["message"]
    return body


def assert_upload_error(response: requests.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error_message", "error_details"}, body
    assert body["error_message"]
    return body
