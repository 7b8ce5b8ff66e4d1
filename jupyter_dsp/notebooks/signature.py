"""What a notebook declares: its inputs (the cell tagged ``parameters``, papermill's convention)
and its outputs (the cell tagged ``outputs``), read with :mod:`ast` without running anything.

Both cells are plain Python the notebook runs by hand unchanged:

- ``parameters``: ``epochs = 3`` is an input parameter (int, float, bool, str, list or dict,
  from the literal; the literal is its default); ``data: Dataset = "data.csv"`` is an input
  artifact (Dataset, Model, Artifact, Markdown, HTML), the string the file it reads by hand.
  Python evaluates a module-level annotation: quote it (``data: "Dataset" = ...``) or import
  the class (``from kfp.dsl import Dataset``) so the cell runs by hand.
- ``outputs``: ``accuracy: float = 0.0`` is an output parameter read back after the run;
  ``model: Model = "model.pkl"`` an output artifact the notebook writes to that path;
  ``metrics: Metrics = {}`` a dict of scalar metrics and ``confusion: ClassificationMetrics =
  {}`` a dict with ``confusion_matrix`` (``categories``, ``matrix``) and/or ``roc`` (``fpr``,
  ``tpr``, ``thresholds``), which the step logs as KFP's metrics artifacts.

In the step each such variable is set again after its cell: parameters to the run's values,
artifact variables to the paths KFP gives the artifact.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

PARAMETER_TYPES = {bool: "bool", int: "int", float: "float", str: "str", list: "list", dict: "dict"}
FILE_ARTIFACTS = ("Artifact", "Dataset", "Model", "Markdown", "HTML")
METRICS_ARTIFACTS = ("Metrics", "ClassificationMetrics")


class NotebookSignatureError(ValueError):
    """A declaration the component cannot be made from; the message names the cell and line."""


@dataclass(frozen=True)
class Declared:
    name: str
    kind: str  # a parameter type (int, float, ...) or an artifact class name (Dataset, ...)
    default: Any = None

    @property
    def is_artifact(self) -> bool:
        return self.kind in FILE_ARTIFACTS or self.kind in METRICS_ARTIFACTS


@dataclass(frozen=True)
class Signature:
    inputs: tuple[Declared, ...]
    outputs: tuple[Declared, ...]
    parameters_cell: int | None  # index of the cell tagged parameters
    outputs_cell: int | None


def tagged(nb: Any, tag: str) -> int | None:
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and tag in (cell.get("metadata", {}).get("tags") or []):
            return index
    return None


def _kind_of(value: Any) -> str | None:
    for python_type, word in PARAMETER_TYPES.items():  # bool before int
        if type(value) is python_type:
            return word
    return None


def _declarations(source: str, where: str, outputs: bool) -> list[Declared]:
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise NotebookSignatureError(f"{where}: line {exc.lineno}: {exc.msg}") from None
    found: list[Declared] = []
    for node in tree.body:
        line = f"{where}, line {node.lineno}"
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            name = node.target.id
            annotation = (
                node.annotation.value
                if isinstance(node.annotation, ast.Constant)
                and isinstance(node.annotation.value, str)
                else ast.unparse(node.annotation)
            )
            value = _literal(node.value, line) if node.value is not None else None
            if annotation in FILE_ARTIFACTS or annotation in METRICS_ARTIFACTS:
                if not outputs and annotation in METRICS_ARTIFACTS:
                    raise NotebookSignatureError(f"{line}: {annotation} is an output, not an input")
                found.append(Declared(name, annotation, value))
            elif annotation in PARAMETER_TYPES.values():
                found.append(Declared(name, annotation, value))
            else:
                known = [*PARAMETER_TYPES.values(), *FILE_ARTIFACTS, *METRICS_ARTIFACTS]
                raise NotebookSignatureError(
                    f"{line}: {name}: {annotation} is not a type a pipeline passes (use one of "
                    f"{', '.join(known)})"
                )
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if not isinstance(target, ast.Name):
                continue
            value = _literal(node.value, line)
            kind = _kind_of(value)
            if kind is None:
                raise NotebookSignatureError(
                    f"{line}: {target.id} = {ast.unparse(node.value)}: a default must be an int, "
                    "float, bool, str, list or dict literal"
                )
            found.append(Declared(target.id, kind, value))
    names = [d.name for d in found]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise NotebookSignatureError(f"{where}: {', '.join(twice)} declared twice")
    return found


def _literal(node: ast.expr, where: str) -> Any:
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise NotebookSignatureError(
            f"{where}: {ast.unparse(node)} is not a literal (the cell is read, not run)"
        ) from None


def read_signature(nb: Any) -> Signature:
    """The notebook's inputs and outputs (NotebookSignatureError naming the cell and line)."""
    p_index = tagged(nb, "parameters")
    o_index = tagged(nb, "outputs")
    inputs = (
        _declarations(nb.cells[p_index].source, f"cell {p_index} (parameters)", False)
        if p_index is not None
        else []
    )
    outputs = (
        _declarations(nb.cells[o_index].source, f"cell {o_index} (outputs)", True)
        if o_index is not None
        else []
    )
    clash = sorted({d.name for d in inputs} & {d.name for d in outputs})
    if clash:
        raise NotebookSignatureError(f"{', '.join(clash)}: both an input and an output")
    reserved = {"executed_notebook", "notebook_html"} & {d.name for d in [*inputs, *outputs]}
    if reserved:
        raise NotebookSignatureError(
            f"{', '.join(sorted(reserved))}: a name every notebook step uses for its own outputs"
        )
    return Signature(tuple(inputs), tuple(outputs), p_index, o_index)
