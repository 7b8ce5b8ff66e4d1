"""Fixtures for the run engine's tests."""

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def exchange_dir() -> Iterator[Path]:
    """A directory both the test and a run's steps can write (mode 1777 under /var/tmp; a
    step has its own /tmp).

    When the stack runs as root, steps run as an unprivileged user that cannot see the test's
    own ``tmp_path`` (it is private to root): files a step writes for the test go here.
    """
    path = Path(tempfile.mkdtemp(prefix="dsp-exchange-", dir="/var/tmp"))
    path.chmod(0o1777)
    yield path
    shutil.rmtree(path, ignore_errors=True)
