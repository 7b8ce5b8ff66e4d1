"""Where the tests find KFP's reference data (compiled test pipelines, the v2beta1 swagger).

It is not in the repository: CI has it beside the checkout as ``../shared/reference``; anywhere
else set ``JUPYTER_DSP_REFERENCE`` to that directory. Without it the tests that read it skip
with :data:`REASON` (at collection for modules that load it at import, at run time for the
others: ``require``, ``needed`` and the hook in conftest.py), never with an error.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ENV = "JUPYTER_DSP_REFERENCE"
BESIDE_CHECKOUT = Path(__file__).resolve().parents[2] / "shared" / "reference"


def find() -> Path:
    """``$JUPYTER_DSP_REFERENCE`` when set, else ``../shared/reference`` beside the checkout
    (the path is returned even when it does not exist; see :data:`AVAILABLE`)."""
    configured = os.environ.get(ENV, "").strip()
    return Path(configured).expanduser().resolve() if configured else BESIDE_CHECKOUT


REFERENCE = find()
COMPILED = REFERENCE / "kfp-compiled-pipelines"
VALID = COMPILED / "valid"
INVALID = COMPILED / "invalid"
SWAGGER = REFERENCE / "kfp-api-2.17.0"
AVAILABLE = COMPILED.is_dir() and SWAGGER.is_dir()
REASON = (
    f"KFP reference data not found at {REFERENCE}: put it at ../shared/reference beside the "
    f"checkout or set {ENV}=<dir> (kfp-compiled-pipelines/, kfp-api-2.17.0/)"
)

#: ``pytestmark = reference.needed`` (or on one test): skipped without the reference data
needed = pytest.mark.skipif(not AVAILABLE, reason=REASON)


def require(path: Path) -> Path:
    """``path`` (a file of the reference data); skips the calling test when it is missing."""
    if not path.exists():
        pytest.skip(REASON)
    return path


def require_module() -> None:
    """At a module's top, before it reads the reference data at import: skip the module."""
    if not AVAILABLE:
        pytest.skip(REASON, allow_module_level=True)


def names_missing_reference(error: BaseException) -> bool:
    """Whether ``error`` is about a file of the (absent) reference data: a FileNotFoundError for
    one, or an error whose message names the reference directory (a library's "No such file")."""
    filename = getattr(error, "filename", None)
    if isinstance(filename, str | os.PathLike):
        if Path(os.fspath(filename)).resolve().is_relative_to(REFERENCE):
            return True
    return str(REFERENCE) in str(error)
