"""The embedded stack: a local Kubeflow Pipelines v2beta1 API server.

``start_stack(data_dir)`` starts one (child process by default) and returns a
:class:`StackHandle` with ``url``, ``token``, ``stop()``; see CONTRACT.md.
"""

from jupyter_dsp.stack.handle import StackHandle, start_stack

__all__ = ["StackHandle", "start_stack"]
