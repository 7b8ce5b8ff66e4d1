"""Shared pytest configuration.

``tests/`` is not a package: pytest puts this directory on ``sys.path``, so fixture
modules here are registered by their bare module name.
"""

from collections.abc import Iterator
from typing import Any

import pytest
import reference
from jupyter_core.utils import ensure_event_loop

pytest_plugins = [
    "fixtures_stack",
    "kernel_shell",
    "fixtures_pkgindex",
    "fixtures_runner",
    "fixtures_mlmd",
]


@pytest.fixture
def jp_asyncio_loop() -> Iterator[Any]:
    """pytest-jupyter's autouse event loop (active in the whole session as soon as one module
    names ``pytest_jupyter.jupyter_server`` in its ``pytest_plugins``), which must not close a
    loop that is running: in browser tests that is Playwright's sync API's own loop (its
    cleanup, ``jp_server_cleanup``, then reports "already running" and moves on)."""
    loop = ensure_event_loop(prefer_selector_loop=True)
    yield loop
    if not loop.is_running():
        loop.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    return (yield from _skip_without_reference())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    return (yield from _skip_without_reference())


def _skip_without_reference() -> Iterator[None]:
    """A test (or fixture) that opens a file of KFP's reference data which this checkout does not
    have is skipped with tests/reference.py's reason, not failed (also when a library wraps the
    FileNotFoundError in its own error naming the path): see that module."""
    try:
        return (yield)
    except Exception as error:
        if not reference.AVAILABLE and reference.names_missing_reference(error):
            pytest.skip(reference.REASON)
        raise
