"""The image a notebook step runs on.

Workbench images of Open Data Hub / OpenShift AI offer *runtime images* for pipeline steps the
way Elyra reads them: one JSON file per image in ``metadata/runtime-images/`` of Jupyter's data
path (ODH copies its project's ``pipeline-runtime-images`` into
``/opt/app-root/share/jupyter/metadata/runtime-images/``), each with a ``display_name`` and the
image at ``metadata.image_name``. A notebook step runs on, in this order:

1. ``base_image=`` (an image reference) or ``runtime_image=`` (a runtime image's file name or
   display name) given to :func:`jupyter_dsp.notebook_component`;
2. the notebook's own choice, ``"jupyter_dsp": {"image": ...}`` in its metadata (a runtime
   image's name, or an image reference), so ``%dsp run prep.ipynb`` and the file browser's
   "Run as Pipeline Step…" use it too;
3. ``python:<the workbench's major.minor>``.
"""

from __future__ import annotations

import glob
import json
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from jupyter_dsp.notebooks.signature import NotebookSignatureError

METADATA_KEY = "jupyter_dsp"  # the notebook metadata holding {"image": ...}


class UnknownRuntimeImage(NotebookSignatureError):
    """A runtime image name that no runtime-image file of this workbench has."""


@dataclass(frozen=True)
class RuntimeImage:
    name: str  # the file's name without .json (Elyra's name for it)
    display_name: str
    image: str
    path: str


def runtime_image_dirs() -> list[str]:
    """Jupyter's data path's ``metadata/runtime-images`` folders, the user's first."""
    from jupyter_core.paths import jupyter_path

    return jupyter_path("metadata", "runtime-images")


def _read(path: str) -> RuntimeImage | None:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    meta = data.get("metadata") if isinstance(data, dict) else None
    image = meta.get("image_name") if isinstance(meta, dict) else None
    if not isinstance(image, str) or not image.strip():
        return None
    name = os.path.splitext(os.path.basename(path))[0]
    shown = data.get("display_name")
    return RuntimeImage(name, shown if isinstance(shown, str) else name, image.strip(), path)


def runtime_images(dirs: Iterable[str] | None = None) -> list[RuntimeImage]:
    """The runtime images of this workbench; a name found twice is the first folder's."""
    found: dict[str, RuntimeImage] = {}
    for folder in runtime_image_dirs() if dirs is None else dirs:
        for path in sorted(glob.glob(os.path.join(folder, "*.json"))):
            image = _read(path)
            if image is not None and image.name not in found:
                found[image.name] = image
    return list(found.values())


def default_image() -> str:
    """The workbench's own Python on a standard image (``python:3.12``)."""
    return f"python:{sys.version_info.major}.{sys.version_info.minor}"


def runtime_image(choice: str, dirs: Iterable[str] | None = None) -> str:
    """The image of the runtime image named ``choice`` (file name or display name)."""
    wanted = choice.strip().casefold()
    images = runtime_images(dirs)
    for image in images:
        if wanted in (image.name.casefold(), image.display_name.casefold()):
            return image.image
    offered = ", ".join(repr(i.display_name) for i in images) or "none on this workbench"
    raise UnknownRuntimeImage(
        f"no runtime image {choice!r} (runtime images: {offered}); give its display name, or "
        "an image reference such as 'python:3.12'"
    )


def image_for(choice: str, dirs: Iterable[str] | None = None) -> str:
    """A runtime image's image when ``choice`` names one, else ``choice`` as an image reference
    (it must then be one word, e.g. ``quay.io/org/image:tag``)."""
    try:
        return runtime_image(choice, dirs)
    except UnknownRuntimeImage:
        if choice.strip() and not any(c.isspace() for c in choice.strip()):
            return choice.strip()
        raise


def step_image(
    nb: Any,
    base_image: str | None = None,
    runtime_image_name: str | None = None,
    dirs: Iterable[str] | None = None,
) -> str:
    """The image a notebook step runs on (the order in this module's docstring)."""
    if base_image and runtime_image_name:
        raise ValueError("give base_image (an image) or runtime_image (its name), not both")
    if runtime_image_name:
        return runtime_image(runtime_image_name, dirs)
    if base_image:
        return base_image
    own = (getattr(nb, "metadata", None) or {}).get(METADATA_KEY)
    choice = own.get("image") if isinstance(own, dict) else None
    if choice is not None:
        if not isinstance(choice, str) or not choice.strip():
            raise NotebookSignatureError(
                f'the notebook\'s metadata "{METADATA_KEY}": {{"image": ...}} must name a '
                "runtime image or an image reference"
            )
        return image_for(choice, dirs)
    return default_image()
