"""The embedded stack: a local Kubeflow Pipelines v2beta1 API server.

``start_stack(data_dir)`` starts one (child process by default) and returns a
:class:`StackHandle` with ``url``, ``token``, ``stop()``; see CONTRACT.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jupyter_dsp.stack.handle import StackHandle, start_stack

__all__ = ["StackHandle", "start_stack"]


def __getattr__(name: str) -> Any:
    # Lazy: a run's worker process imports jupyter_dsp.stack.runner and must not pay for
    # the server's imports (tornado, SQLite stores, spec validation) at every run start.
    if name in __all__:
        from jupyter_dsp.stack import handle

        return getattr(handle, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
