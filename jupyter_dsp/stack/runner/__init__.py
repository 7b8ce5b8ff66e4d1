"""Local execution of pipeline runs for the embedded stack.

Each run executes in its own worker process (``python -m jupyter_dsp.stack.runner.worker``),
which walks the compiled pipeline spec itself and runs every step as KFP's launcher does on a
cluster (``ExecutorInput``, the component's own command, the executor output file).
:class:`RunEngine` keeps a bounded pool of those workers and reports every change of a
run through a listener; it knows nothing about HTTP or the database.
"""

from __future__ import annotations

from jupyter_dsp.stack.runner.engine import RunEngine, RunListener
from jupyter_dsp.stack.runner.locality import NeedsClusterError, cluster_only_reasons
from jupyter_dsp.stack.runner.model import FINAL_STATES, RunSnapshot, TaskRecord
from jupyter_dsp.stack.runner.params import ParameterError, resolve_parameters
from jupyter_dsp.stack.runner.spec import PipelineDocument, SpecError, load_pipeline_document

__all__ = [
    "FINAL_STATES",
    "NeedsClusterError",
    "ParameterError",
    "PipelineDocument",
    "RunEngine",
    "RunListener",
    "RunSnapshot",
    "SpecError",
    "TaskRecord",
    "cluster_only_reasons",
    "load_pipeline_document",
    "resolve_parameters",
]
