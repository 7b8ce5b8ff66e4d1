"""Shared pytest configuration.

``tests/`` is not a package: pytest puts this directory on ``sys.path``, so fixture
modules here are registered by their bare module name.
"""

from collections.abc import Iterator
from typing import Any

import pytest
from jupyter_core.utils import ensure_event_loop

pytest_plugins = [
    "fixtures_stack",
    "kernel_shell",
    "fixtures_pkgindex",
    "fixtures_runner",
    "fixtures_mlmd",
]


@pytest.fixture
def jp_asyncio_loop(request: pytest.FixtureRequest) -> Iterator[Any]:
    """pytest-jupyter's autouse event loop (active in the whole session as soon as one module
    names ``pytest_jupyter.jupyter_server`` in its ``pytest_plugins``), except in browser tests:
    there Playwright's sync API owns the thread's running loop, which must not be closed."""
    if request.node.get_closest_marker("browser"):
        yield None
        return
    loop = ensure_event_loop(prefer_selector_loop=True)
    yield loop
    loop.close()
