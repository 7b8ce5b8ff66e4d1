"""A real IPython InteractiveShell with ``%load_ext jupyter_dsp``, for the magics tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config


@pytest.fixture
def shell(stack, tmp_path, monkeypatch) -> Iterator[InteractiveShell]:
    """A fresh shell connected to the session stack with ``%dsp connect`` (token from a file)."""
    monkeypatch.chdir(tmp_path)
    config = Config()
    config.HistoryManager.enabled = False
    InteractiveShell.clear_instance()
    sh = InteractiveShell.instance(config=config)
    sh.run_line_magic("load_ext", "jupyter_dsp")
    token_file = stack.data_dir / "token"
    sh.run_line_magic(
        "dsp", f"connect --endpoint {stack.url} --token-file {token_file} --namespace default"
    )
    try:
        yield sh
    finally:
        InteractiveShell.clear_instance()


def run_cell(sh: InteractiveShell, code: str) -> Any:
    result = sh.run_cell(code)
    result.raise_error()
    return result.result
