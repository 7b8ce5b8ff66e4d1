"""Notebooks as pipeline steps (kernel side): :func:`notebook_component` makes a KFP component
of a notebook, whose parameters and outputs its tagged cells declare."""

from jupyter_dsp.notebooks.component import MAX_NOTEBOOK_BYTES, NotebookTooLarge, notebook_component
from jupyter_dsp.notebooks.runtime_images import RuntimeImage, UnknownRuntimeImage, runtime_images
from jupyter_dsp.notebooks.signature import NotebookSignatureError, read_signature

__all__ = [
    "MAX_NOTEBOOK_BYTES",
    "NotebookSignatureError",
    "NotebookTooLarge",
    "RuntimeImage",
    "UnknownRuntimeImage",
    "notebook_component",
    "read_signature",
    "runtime_images",
]
