"""Pytest fixtures for the embedded stack (registered from tests/conftest.py).

``tests/`` is not a package: pytest puts it on ``sys.path`` (rootdir-less conftest), so
this module is registered as the plugin ``fixtures_stack``.

- ``stack`` (session): one child-process stack on a temporary data dir, multi-user,
  default namespace ``default``; ``stack.token`` has edit on ``default`` and on shared.
  Tests that share it must use unique names (see ``unique_name``).
- ``stack_factory``: ``stack_factory(single_user=..., default_namespace=..., in_process=...,
  tokens={"alice": ({"team-a": "edit"}, "view")})`` starts a fresh stack on its own data dir;
  the handle gets an extra attribute ``tokens`` (subject -> token). Every stack it started is
  stopped at the end of the test.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyter_dsp.stack import StackHandle, start_stack

TokenSpec = tuple[dict[str, str], str]


def _with_tokens(handle: StackHandle, tokens: dict[str, TokenSpec] | None) -> StackHandle:
    created: dict[str, str] = {}
    for subject, (namespaces, shared) in (tokens or {}).items():
        created[subject] = handle.create_token(subject, namespaces, shared)
    handle.tokens = created  # type: ignore[attr-defined]
    return handle


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackHandle]:
    handle = start_stack(tmp_path_factory.mktemp("dsp-stack") / "data")
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def stack_factory(tmp_path: Path) -> Iterator[Callable[..., StackHandle]]:
    started: list[StackHandle] = []

    def factory(tokens: dict[str, TokenSpec] | None = None, **options: Any) -> StackHandle:
        data_dir = options.pop("data_dir", None) or tmp_path / f"stack-{len(started)}"
        handle = start_stack(data_dir, **options)
        started.append(handle)
        return _with_tokens(handle, tokens)

    try:
        yield factory
    finally:
        for handle in reversed(started):
            handle.stop()


@pytest.fixture
def unique_name() -> Callable[[str], str]:
    """``unique_name("p")`` -> ``"p-1a2b3c4d"``: names that do not clash on a shared stack."""

    def make(prefix: str = "t") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:8]}"

    return make
