"""One notebook as a one-step pipeline (``%dsp run prep.ipynb -p rows=5``): its parameters are
the pipeline's, with the notebook's defaults."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from jupyter_dsp.notebooks.component import notebook_component
from jupyter_dsp.notebooks.signature import NotebookSignatureError, read_signature

_TYPES: dict[str, type] = {
    "int": int,
    "float": float,
    "bool": bool,
    "str": str,
    "list": list,
    "dict": dict,
}


def notebook_pipeline(
    path: str | Path, name: str | None = None, base_image: str | None = None
) -> Any:
    """A ``@dsl.pipeline`` of one step that runs the notebook at ``path`` (on ``base_image``
    when given, else on the image the notebook names or the workbench's Python)."""
    import nbformat
    from kfp import dsl

    source = Path(path).expanduser()
    if not source.is_file():
        raise FileNotFoundError(f"no notebook at {source}")
    nb = nbformat.read(source, as_version=4)
    sig = read_signature(nb)
    wanted = [d.name for d in sig.inputs if d.is_artifact]
    if wanted:
        raise NotebookSignatureError(
            f"{source.name} reads input artifacts ({', '.join(wanted)}): run it as a step of a "
            "pipeline that produces them (jupyter_dsp.notebook_component)"
        )
    step = notebook_component(
        nb, name=source.stem.replace("-", "_").replace(" ", "_"), base_image=base_image
    )
    params = [d for d in sig.inputs if not d.is_artifact]

    names = [d.name for d in params]

    def run_notebook(*args: Any, **kwargs: Any) -> None:
        step(**dict(zip(names, args, strict=False)), **kwargs)

    run_notebook.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(
                d.name,
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                default=d.default,
                annotation=_TYPES[d.kind],
            )
            for d in params
        ]
    )
    run_notebook.__annotations__ = {d.name: _TYPES[d.kind] for d in params}
    pipeline_name = name or source.stem.lower().replace("_", "-").replace(" ", "-")
    return dsl.pipeline(name=pipeline_name, description=f"the notebook {source.name}")(run_notebook)
