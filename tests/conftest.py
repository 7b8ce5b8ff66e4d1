"""Shared pytest configuration.

``tests/`` is not a package: pytest puts this directory on ``sys.path``, so fixture
modules here are registered by their bare module name.
"""

pytest_plugins = [
    "fixtures_stack",
    "kernel_shell",
    "fixtures_pkgindex",
    "fixtures_runner",
    "fixtures_mlmd",
]
