"""jupyter-dsp: namespaced Kubeflow Pipelines in Jupyter.

Kept light on purpose: a kernel runs ``%load_ext jupyter_dsp`` and the Jupyter
server imports this module to find its extension, so heavy imports happen
lazily inside the hooks below.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from jupyter_dsp.server.extension import DSPExtension

    return [{"module": "jupyter_dsp", "app": DSPExtension}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "jupyter-dsp"}]


def load_ipython_extension(ipython: Any) -> None:
    from jupyter_dsp.magics import load_ipython_extension as _load

    _load(ipython)


def connect(**kwargs: Any) -> Any:
    """Return a :class:`jupyter_dsp.client.DSPClient` for the resolved spaces."""
    from jupyter_dsp.client import connect as _connect

    return _connect(**kwargs)


def notebook_component(notebook: Any, **kwargs: Any) -> Any:
    """A KFP component that runs a notebook as one pipeline step (see
    :func:`jupyter_dsp.notebooks.notebook_component`)."""
    from jupyter_dsp.notebooks import notebook_component as _make

    return _make(notebook, **kwargs)
