"""Notebooks written by the tests (nbformat) for the notebook-step tests and bench."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook


def make_notebook(path: Path, cells: list[tuple[str, list[str] | None]]) -> Path:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells.append(new_markdown_cell(f"# {path.stem}"))
    for source, tags in cells:
        cell = new_code_cell(source)
        if tags:
            cell.metadata["tags"] = tags
        nb.cells.append(cell)
    nbformat.write(nb, path)
    return path


def prepare(directory: Path) -> Path:
    """A Dataset of ``rows`` rows (CSV) and how many it wrote."""
    return make_notebook(
        directory / "prepare.ipynb",
        [
            ("rows = 6\nseed = 3", ["parameters"]),
            ("data: 'Dataset' = 'data.csv'\nwritten: int = 0", ["outputs"]),
            (
                "lines = ['x,label'] + [f'{i * seed % 7},{i % 2}' for i in range(rows)]\n"
                "with open(data, 'w') as f:\n"
                "    f.write('\\n'.join(lines) + '\\n')\n"
                "written = rows",
                None,
            ),
        ],
    )


def train(directory: Path) -> Path:
    """Reads the Dataset; typed parameters; Metrics and ClassificationMetrics; a Model."""
    return make_notebook(
        directory / "train.ipynb",
        [
            (
                "data: 'Dataset' = 'data.csv'\nthreshold = 0.5\nepochs = 2\nverbose = False\n"
                "tag = 'demo'\nlayers = [8, 4]\noptions = {'optimizer': 'sgd'}",
                ["parameters"],
            ),
            (
                "model: 'Model' = 'model.txt'\nmetrics: 'Metrics' = {}\n"
                "confusion: 'ClassificationMetrics' = {}\naccuracy: float = 0.0",
                ["outputs"],
            ),
            (
                "import csv\n"
                "rows = list(csv.DictReader(open(data)))\n"
                "predicted = [int(int(r['x']) / 7 > threshold) for r in rows]\n"
                "actual = [int(r['label']) for r in rows]\n"
                "right = sum(p == a for p, a in zip(predicted, actual))\n"
                "accuracy = right / len(rows)\n"
                "metrics['accuracy'] = accuracy\nmetrics['rows'] = len(rows)\n"
                "cm = [[sum(1 for p, a in zip(predicted, actual) if a == i and p == j)"
                " for j in (0, 1)] for i in (0, 1)]\n"
                "confusion['confusion_matrix'] = {'categories': ['0', '1'], 'matrix': cm}\n"
                "confusion['roc'] = {'fpr': [0.0, 0.5, 1.0], 'tpr': [0.0, 0.75, 1.0],"
                " 'thresholds': [1.0, 0.5, 0.0]}\n"
                "with open(model, 'w') as f:\n"
                "    f.write(f'threshold={threshold} epochs={epochs} layers={layers}')\n"
                "print('accuracy', accuracy)",
                None,
            ),
        ],
    )


def report(directory: Path) -> Path:
    return make_notebook(
        directory / "report.ipynb",
        [
            ("accuracy = 0.0\ntitle = 'Report'", ["parameters"]),
            ("summary: 'Markdown' = 'report.md'", ["outputs"]),
            (
                "with open(summary, 'w') as f:\n"
                "    f.write(f'# {title}\\n\\nAccuracy: **{accuracy:.2f}**\\n')",
                None,
            ),
        ],
    )


def failing(directory: Path) -> Path:
    return make_notebook(
        directory / "failing.ipynb",
        [
            ("divisor = 0", ["parameters"]),
            ("print('before the failure')", None),
            ("ratio = 10 / divisor  # fails when divisor is 0", None),
            ("print('never reached')", None),
        ],
    )


def typed(directory: Path) -> Path:
    """Parameters of every type a notebook declares, printed by the notebook."""
    return make_notebook(
        directory / "typed.ipynb",
        [
            (
                "count = 3\nratio = 0.25\nverbose = True\nlabel = 'x'\nsizes = [1, 2]\n"
                "opts = {'a': 1}",
                ["parameters"],
            ),
            (
                "print('got', count * 2, ratio, verbose, label, sizes + [0], sorted(opts.items()))",
                None,
            ),
        ],
    )
