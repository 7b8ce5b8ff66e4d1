"""A notebook from the file browser as a one-step pipeline: its compiled spec (YAML and IR),
the name it proposes and its typed parameters, for the panel's run and upload dialogs.

Plain logic, no tornado: :func:`check_path` refuses what is not a notebook path inside the
server's root, :func:`compile_notebook` compiles a notebook's JSON (as the contents manager
reads it) with :mod:`jupyter_dsp.notebooks`, raising :class:`NotebookRefused` with a status.
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

MAX_PATH = 1024


class NotebookRefused(Exception):
    """A notebook the server will not compile: ``status`` (4xx) and a message for the user."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(message)


@dataclass
class CompiledNotebook:
    name: str  # the pipeline's name (from the file name)
    file_name: str  # notebook file name, e.g. prep.ipynb
    spec: dict[str, Any]  # the pipeline spec (IR)
    yaml: str  # the same, as a pipeline file to upload
    parameters: list[dict[str, Any]]  # {name, type, default?, required}

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "file_name": self.file_name,
            "pipeline_spec": self.spec,
            "yaml": self.yaml,
            "parameters": self.parameters,
        }


def check_path(path: str) -> str:
    """``path`` relative to the server's root, normalized; 400/403 for what may not be one."""
    if not isinstance(path, str) or not path.strip():
        raise NotebookRefused(400, "path (a notebook's path in the file browser) is required")
    if len(path) > MAX_PATH or re.search(r"[\x00-\x1f\x7f\\]", path):
        raise NotebookRefused(400, "path is not a valid file browser path")
    pure = PurePosixPath(path.strip())
    if pure.is_absolute() or re.match(r"^[A-Za-z]:", str(pure)):
        raise NotebookRefused(
            403, "an absolute path is outside the server's root: give a path in the file browser"
        )
    if ".." in pure.parts:
        raise NotebookRefused(
            403, f"{path[:200]!r} is outside the server's root: give a path in the file browser"
        )
    if pure.suffix.lower() != ".ipynb":
        raise NotebookRefused(
            400, f"{pure.name[:200]!r} is not a notebook: only an .ipynb file runs as a step"
        )
    return str(pure)


def compile_notebook(content: Any, path: str) -> CompiledNotebook:
    """Compile the notebook ``content`` (nbformat JSON) found at ``path`` into a one-step
    pipeline; 400 for a notebook whose declarations cannot make a step, 413 when too large."""
    import nbformat

    from jupyter_dsp.client.compiling import compile_source
    from jupyter_dsp.client.errors import ArgumentError
    from jupyter_dsp.notebooks.component import MAX_NOTEBOOK_BYTES

    file_name = PurePosixPath(path).name
    try:
        nb = nbformat.from_dict(content)
        nbformat.validate(nb)
    except Exception as exc:  # noqa: BLE001 - any unreadable notebook is the user's to fix
        raise NotebookRefused(400, f"{file_name} is not a valid notebook: {exc}"[:500]) from None
    with tempfile.TemporaryDirectory(prefix="jupyter-dsp-notebook-") as tmp:
        copy = Path(tmp) / file_name
        nbformat.write(nb, copy)
        try:
            compiled = compile_source(str(copy))
        except ArgumentError as exc:
            message = str(exc).replace(str(copy), file_name).replace(tmp + "/", "")
            status = 413 if f"at most {MAX_NOTEBOOK_BYTES // (1024 * 1024)} MB" in message else 400
            raise NotebookRefused(status, message) from None
    parameters = []
    for p in compiled.parameters.values():
        entry: dict[str, Any] = {"name": p.name, "type": p.type, "required": p.required}
        if p.has_default:
            entry["default"] = p.default
        parameters.append(entry)
    spec = json.loads(json.dumps(compiled.spec))
    return CompiledNotebook(compiled.name, file_name, spec, compiled.to_yaml(), parameters)
