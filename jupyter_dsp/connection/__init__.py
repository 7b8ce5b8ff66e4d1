"""Settings and resolution of the pipeline stack, shared by the Jupyter server and kernels.

>>> from jupyter_dsp.connection import DSPSettings, resolve
>>> conn = resolve(DSPSettings.load())  # doctest: +SKIP
"""

from jupyter_dsp.connection.model import (
    Connection,
    DSPConnectionError,
    NoStackFound,
    Space,
)
from jupyter_dsp.connection.resolve import in_cluster, resolve, wants_embedded
from jupyter_dsp.connection.settings import DSPSettings

__all__ = [
    "Connection",
    "DSPConnectionError",
    "DSPSettings",
    "NoStackFound",
    "Space",
    "in_cluster",
    "resolve",
    "wants_embedded",
]
