"""A notebook from the file browser as a one-step pipeline: its compiled spec (YAML and IR),
the name it proposes and its typed parameters, for the panel's run and upload dialogs.

Plain logic, no tornado: :func:`check_path` refuses what is not a notebook path inside the
server's root, :func:`compile_notebook` compiles a notebook's JSON (as the contents manager
reads it) with :mod:`jupyter_dsp.notebooks`, raising :class:`NotebookRefused` with a status.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

MAX_PATH = 1024
MAX_IMAGE = 512


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
    image: str = ""  # the image the step runs on
    runtime_images: list[dict[str, str]] = field(default_factory=list)  # the workbench's

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "file_name": self.file_name,
            "pipeline_spec": self.spec,
            "yaml": self.yaml,
            "parameters": self.parameters,
            "image": self.image,
            "runtime_images": self.runtime_images,
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


def check_image(image: Any) -> str | None:
    """The ``image`` a request may name (a runtime image's name or an image reference)."""
    if image is None or image == "":
        return None
    if not isinstance(image, str) or len(image) > MAX_IMAGE or re.search(r"[\x00-\x1f\x7f]", image):
        raise NotebookRefused(
            400, "image must be a runtime image's name or an image reference (one line)"
        )
    return image.strip() or None


def compile_notebook(content: Any, path: str, image: str | None = None) -> CompiledNotebook:
    """Compile the notebook ``content`` (nbformat JSON) found at ``path`` into a one-step
    pipeline with ``kfp.compiler``, on ``image`` (a runtime image's name or an image
    reference) when given; 400 for a notebook whose declarations cannot make a step or an
    unknown image, 413 when too large. (The server's side of what ``%dsp compile x.ipynb``
    does: no kernel module is imported here.)"""
    import nbformat
    import yaml
    from kfp import compiler

    from jupyter_dsp.notebooks import NotebookSignatureError, NotebookTooLarge
    from jupyter_dsp.notebooks.pipeline import notebook_pipeline
    from jupyter_dsp.notebooks.runtime_images import image_for, runtime_images

    file_name = PurePosixPath(path).name
    try:
        base_image = image_for(image) if image else None
    except NotebookSignatureError as exc:
        raise NotebookRefused(400, str(exc)) from None
    try:
        nb = nbformat.from_dict(content)
        nbformat.validate(nb)
    except Exception as exc:  # noqa: BLE001 - any unreadable notebook is the user's to fix
        raise NotebookRefused(400, f"{file_name} is not a valid notebook: {exc}"[:500]) from None
    with tempfile.TemporaryDirectory(prefix="jupyter-dsp-notebook-") as tmp:
        copy = Path(tmp) / file_name
        nbformat.write(nb, copy)
        package = Path(tmp) / "pipeline.yaml"
        try:
            func = notebook_pipeline(str(copy), base_image=base_image)
            compiler.Compiler().compile(pipeline_func=func, package_path=str(package))
        except NotebookTooLarge as exc:
            raise NotebookRefused(413, _without(str(exc), str(copy), tmp, file_name)) from None
        except NotebookSignatureError as exc:
            raise NotebookRefused(400, _without(str(exc), str(copy), tmp, file_name)) from None
        except Exception as exc:  # noqa: BLE001 - the DSL reports mistakes with many types
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            why = f"compiling {file_name} failed: {_without(first, str(copy), tmp, file_name)}"
            raise NotebookRefused(400, why) from None
        text = package.read_text(encoding="utf-8")
    spec = yaml.safe_load(text)
    name = (spec.get("pipelineInfo") or {}).get("name") or PurePosixPath(file_name).stem
    offered = [
        {"name": i.name, "display_name": i.display_name, "image": i.image} for i in runtime_images()
    ]
    return CompiledNotebook(
        name, file_name, spec, text, root_parameters(spec), step_image_of(spec), offered
    )


def step_image_of(spec: dict[str, Any]) -> str:
    """The image of the one step's executor in ``spec``."""
    executors = ((spec.get("deploymentSpec") or {}).get("executors") or {}).values()
    return next((str((e.get("container") or {}).get("image") or "") for e in executors), "")


def _without(message: str, copy: str, tmp: str, file_name: str) -> str:
    """The message without the temporary copy's path (the user knows the notebook by name)."""
    return message.replace(copy, file_name).replace(tmp + "/", "")


def root_parameters(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The pipeline's root parameters as the dialogs take them: name, KFP type, required and
    the default when there is one (an integer's default as an int: IR numbers are doubles)."""
    definitions = (spec.get("root") or {}).get("inputDefinitions") or {}
    out = []
    for name, entry in (definitions.get("parameters") or {}).items():
        ptype = entry.get("parameterType") or "STRING"
        item: dict[str, Any] = {"name": name, "type": ptype}
        if "defaultValue" in entry:
            default = entry["defaultValue"]
            if ptype == "NUMBER_INTEGER" and isinstance(default, float) and default.is_integer():
                default = int(default)
            item["default"] = default
        item["required"] = not entry.get("isOptional", False) and "defaultValue" not in entry
        out.append(item)
    return out
