"""The house rules a reader of the repository relies on, checked on every file git tracks:
no source file over 400 lines (Python, TypeScript, CSS, JavaScript, shell, protos; the
guided notebooks and the README are documents, not code), and every stylesheet of the panel
in the style module JupyterLab loads (``style/index.js``) as well as in ``style/index.css``."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 400
SOURCE = re.compile(r"\.(py|ts|tsx|css|js|sh|proto)$")
BUILT = ("jupyter_dsp/labextension/",)  # the labextension's build output


def tracked() -> list[str]:
    try:
        done = subprocess.run(
            ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"not a git checkout: {exc}")
    return done.stdout.splitlines()


def test_no_source_file_is_over_400_lines() -> None:
    too_long = {}
    for name in tracked():
        if not SOURCE.search(name) or name.startswith(BUILT):
            continue
        path = ROOT / name
        if path.is_file():
            lines = len(path.read_text(encoding="utf-8", errors="replace").splitlines())
            if lines > MAX_LINES:
                too_long[name] = lines
    assert too_long == {}, f"split these by what they do: {too_long}"


def test_every_stylesheet_is_loaded_by_jupyterlab() -> None:
    style = ROOT / "labextension" / "style"
    sheets = {p.name for p in style.glob("*.css")} - {"index.css"}
    module = set(re.findall(r"import '\./([\w-]+\.css)';", (style / "index.js").read_text()))
    index = (style / "index.css").read_text()
    imported = set(re.findall(r"@import url\('([\w-]+\.css)'\);", index))
    assert module == sheets, "style/index.js (what JupyterLab loads) must import every sheet"
    assert imported == sheets, "style/index.css must import every sheet"
