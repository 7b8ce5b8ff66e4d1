"""A notebook as a KFP component: ``notebook_component("prep.ipynb")``.

The component is a lightweight Python component made by KFP's own ``dsl.component`` from a
function written for the notebook: its signature is the notebook's declared inputs and outputs
(:mod:`jupyter_dsp.notebooks.signature`) plus two outputs every notebook step has (the executed
notebook and its HTML rendering), and its body carries the notebook itself (compressed) and
:mod:`jupyter_dsp.notebooks.step_runtime`, which runs it with nbclient in the step. So the
notebook travels inside the compiled spec like a function's source, KFP's compiler and
executor pass parameters and artifacts as for any component, and nothing but the step's
declared packages is needed where it runs.
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import importlib.util
import inspect
import re
import shutil
import tempfile
import textwrap
import zlib
from pathlib import Path
from typing import Any

from jupyter_dsp.notebooks import step_runtime
from jupyter_dsp.notebooks.runtime_images import step_image
from jupyter_dsp.notebooks.signature import (
    FILE_ARTIFACTS,
    METRICS_ARTIFACTS,
    Declared,
    NotebookSignatureError,
    read_signature,
)

MAX_NOTEBOOK_BYTES = 2 * 1024 * 1024  # of the notebook without its outputs, before compression
STEP_PACKAGES = ["nbclient>=0.7,<1", "nbformat>=5.7,<6", "ipykernel>=6,<8", "nbconvert>=7,<8"]
_modules: list[Path] = []  # the folder of this process's generated modules, made on first use


def _modules_dir() -> Path:
    """A private folder for the generated modules, removed when the process exits."""
    if not _modules:
        folder = Path(tempfile.mkdtemp(prefix="jupyter-dsp-notebook-components-"))
        atexit.register(shutil.rmtree, folder, True)
        _modules.append(folder)
    return _modules[0]


class NotebookTooLarge(ValueError):
    pass


def _stripped(nb: Any) -> Any:
    import nbformat

    copy = nbformat.from_dict(nbformat.from_dict(dict(nb)))
    for cell in copy.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return copy


def _pack(nb: Any, where: str) -> str:
    import nbformat

    text = nbformat.writes(_stripped(nb)).encode("utf-8")
    if len(text) > MAX_NOTEBOOK_BYTES:
        raise NotebookTooLarge(
            f"{where} is {len(text) / 1e6:.1f} MB without its outputs: a notebook step carries "
            f"its notebook in the pipeline spec, at most {MAX_NOTEBOOK_BYTES // (1024 * 1024)} "
            "MB. Move data out of the notebook (read it from a Dataset input)."
        )
    return base64.b64encode(zlib.compress(text, 9)).decode("ascii")


def _name_of(path: Path) -> str:
    words = re.sub(r"[^0-9a-zA-Z]+", "_", path.stem).strip("_").lower() or "notebook"
    return words if words[0].isalpha() else f"notebook_{words}"


def _annotation(d: Declared, direction: str) -> str:
    return f"{direction}[{d.kind}]" if d.is_artifact else d.kind


def function_source(nb: Any, name: str, where: str) -> str:
    """The component function's source for notebook ``nb``."""
    sig = read_signature(nb)
    packed = _pack(nb, where)
    params = [d for d in sig.inputs if not d.is_artifact]
    art_in = [d for d in sig.inputs if d.is_artifact]
    art_out = [d for d in sig.outputs if d.is_artifact]
    results = [d for d in sig.outputs if not d.is_artifact]
    args = [f"{d.name}: {_annotation(d, 'Input')}" for d in art_in]
    args += ["executed_notebook: Output[Artifact]", "notebook_html: Output[HTML]"]
    args += [f"{d.name}: {_annotation(d, 'Output')}" for d in art_out]
    args += [f"{d.name}: {d.kind} = {d.default!r}" for d in params]
    if results:
        fields = ", ".join(f"({d.name!r}, {d.kind})" for d in results)
        returns = f"NamedTuple('Outputs', [{fields}])"
    else:
        returns = "None"
    runtime = textwrap.indent(inspect.getsource(step_runtime._dsp_run_notebook), "    ")
    files = [d.name for d in art_out if d.kind in FILE_ARTIFACTS]
    body = [
        f"    _dsp_packed = {packed!r}",
        runtime,
        "    _dsp_result = _dsp_run_notebook(",
        "        _dsp_packed,",
        "        {" + ", ".join(f"{d.name!r}: {d.name}" for d in params) + "},",
        "        {" + ", ".join(f"{d.name!r}: {d.name}.path" for d in art_in) + "},",
        "        {" + ", ".join(f"{n!r}: {n}.path" for n in files) + "},",
        "        {"
        + ", ".join(f"{d.name!r}: {d.name}" for d in art_out if d.kind == "Metrics")
        + "},",
        "        {"
        + ", ".join(f"{d.name!r}: {d.name}" for d in art_out if d.kind == METRICS_ARTIFACTS[1])
        + "},",
        f"        {[d.name for d in results]!r},",
        "        {'executed': executed_notebook.path, 'html': notebook_html.path},",
        "    )",
        "    return _dsp_result if _dsp_result else None",
    ]
    head = f"def {name}(\n" + "".join(f"    {a},\n" for a in args) + f") -> {returns}:\n"
    return head + "\n".join(body) + "\n"


def _load_function(source: str, name: str) -> Any:
    """The function defined by ``source``, from a file so that KFP can read its source."""
    header = (
        "from typing import NamedTuple\n"
        "from kfp.dsl import HTML, Artifact, ClassificationMetrics, Dataset, Input, Markdown, "
        "Metrics, Model, Output\n\n\n"
    )
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    path = _modules_dir() / f"{name}_{digest}.py"
    path.write_text(header + source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(f"jupyter_dsp_notebook_{digest}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def notebook_component(
    notebook: str | Path | Any,
    *,
    name: str | None = None,
    packages_to_install: list[str] | None = None,
    base_image: str | None = None,
    runtime_image: str | None = None,
) -> Any:
    """A KFP component that runs ``notebook`` (a path, or an nbformat notebook) as one step.

    Its inputs are the notebook's ``parameters`` cell, its outputs those its ``outputs`` cell
    declares, plus ``executed_notebook`` (the notebook as it ran) and ``notebook_html``.
    It runs on ``base_image`` (an image), ``runtime_image`` (one of the workbench's runtime
    images, by name), the image the notebook's metadata names, or ``python:<major.minor>``
    (:mod:`jupyter_dsp.notebooks.runtime_images`).
    """
    import nbformat
    from kfp import dsl

    if isinstance(notebook, str | Path):
        path = Path(notebook).expanduser()
        try:
            nb = nbformat.read(path, as_version=4)
        except FileNotFoundError:
            raise FileNotFoundError(f"no notebook at {path}") from None
        except Exception as exc:
            raise NotebookSignatureError(f"{path} is not a notebook: {exc}") from None
        where = str(path)
        func_name = name or _name_of(path)
    else:
        nb = notebook
        where = "the notebook"
        func_name = name or "notebook"
    func_name = re.sub(r"\W", "_", func_name)
    image = step_image(nb, base_image, runtime_image)
    source = function_source(nb, func_name, where)
    func = _load_function(source, func_name)
    return dsl.component(
        func,
        base_image=image,
        packages_to_install=[*STEP_PACKAGES, *(packages_to_install or [])],
    )
