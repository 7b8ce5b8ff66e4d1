"""A pipeline whose tasks write every kind of output the results view shows (issue 17).

``showcase`` returns a value (the model's accuracy), and its steps write each artifact type:
``system.Dataset`` (a CSV), ``system.Model``, ``system.Metrics``,
``system.ClassificationMetrics`` (confusion matrix and ROC curve, written with
``kfp.dsl.ClassificationMetrics``), ``system.SlicedClassificationMetrics``, ``system.HTML``,
``system.Markdown`` and ``system.Artifact``. A ``ParallelFor`` over ``folds`` scores each
fold, so every iteration has its own output parameter and metrics artifact, attached to the
iteration's task. Only the standard library runs inside the steps.

``big_artifact`` writes one artifact of ``size_mb`` megabytes (bench/results_download.py).

Used by the results tests (stack, server, kernel, panel) and the results benches; compile
with ``kfp.compiler.Compiler().compile(showcase, path)`` where used. (No
``from __future__ import annotations``: kfp reads the components' annotations.)
"""

from kfp import dsl  # type: ignore[import-untyped]
from kfp.dsl import (  # type: ignore[import-untyped]
    HTML,
    Artifact,
    ClassificationMetrics,
    Dataset,
    Input,
    Markdown,
    Metrics,
    Model,
    Output,
    SlicedClassificationMetrics,
)

# what the showcase's steps write, for the tests to compare with
DATASET_CSV = "x,y,label\n0.1,0.2,cat\n0.4,0.1,dog\n0.9,0.8,cat\n0.3,0.7,dog\n"
MODEL_TEXT = "weights: [0.25, -0.5, 1.0]\n"
SCALARS = {"accuracy": 0.75, "loss": 0.31}
CATEGORIES = ["cat", "dog"]
MATRIX = [[3, 1], [1, 3]]
ROC = {"fpr": [0.0, 0.25, 1.0], "tpr": [0.0, 0.75, 1.0], "threshold": [1.0, 0.5, 0.0]}
HTML_TEXT = "<h1>Report</h1><p>accuracy <b>0.75</b></p>"
MARKDOWN_TEXT = "# Report\n\n| metric | value |\n|---|---|\n| accuracy | 0.75 |\n"
NOTES_TEXT = "free-form notes\n"
FOLDS = [1, 2, 3]


@dsl.component(base_image="python:3.11")
def make_dataset(rows: int, data: Output[Dataset]) -> int:
    """Writes the dataset as CSV and returns how many rows it wrote."""
    lines = [
        "x,y,label",
        "0.1,0.2,cat",
        "0.4,0.1,dog",
        "0.9,0.8,cat",
        "0.3,0.7,dog",
    ][: rows + 1]
    with open(data.path, "w") as f:
        f.write("\n".join(lines) + "\n")
    data.metadata["rows"] = rows
    data.metadata["format"] = "csv"
    return rows


@dsl.component(base_image="python:3.11")
def train(
    data: Input[Dataset],
    model: Output[Model],
    metrics: Output[Metrics],
    classification: Output[ClassificationMetrics],
    sliced: Output[SlicedClassificationMetrics],
    report: Output[HTML],
    summary: Output[Markdown],
    notes: Output[Artifact],
) -> float:
    """Writes one artifact of each type and returns the accuracy."""
    with open(data.path) as f:
        assert f.readline().startswith("x,y,label")
    with open(model.path, "w") as f:
        f.write("weights: [0.25, -0.5, 1.0]\n")
    model.metadata["framework"] = "none"
    metrics.log_metric("accuracy", 0.75)
    metrics.log_metric("loss", 0.31)
    classification.log_confusion_matrix(["cat", "dog"], [[3, 1], [1, 3]])
    classification.log_roc_curve(
        fpr=[0.0, 0.25, 1.0], tpr=[0.0, 0.75, 1.0], threshold=[1.0, 0.5, 0.0]
    )
    # kfp's SlicedClassificationMetrics.log_* methods fail (kfp 2.x never sets the object's
    # slice table), so the metadata is written in the schema they would write.
    for_slice = ClassificationMetrics()
    for_slice.log_roc_curve(fpr=[0.0, 0.5, 1.0], tpr=[0.0, 0.5, 1.0], threshold=[1.0, 0.5, 0.0])
    sliced.metadata["evaluationSlices"] = [
        {"slice": "overall", "sliceClassificationMetrics": for_slice.metadata}
    ]
    with open(report.path, "w") as f:
        f.write("<h1>Report</h1><p>accuracy <b>0.75</b></p>")
    with open(summary.path, "w") as f:
        f.write("# Report\n\n| metric | value |\n|---|---|\n| accuracy | 0.75 |\n")
    with open(notes.path, "w") as f:
        f.write("free-form notes\n")
    return 0.75


@dsl.component(base_image="python:3.11")
def score_fold(data: Input[Dataset], fold: int, fold_metrics: Output[Metrics]) -> int:
    """One ParallelFor iteration: returns ``fold * 10`` and logs it as a metric."""
    with open(data.path) as f:
        assert f.readline()
    fold_metrics.log_metric("fold_score", fold * 10)
    return fold * 10


@dsl.pipeline(name="results-showcase")
def showcase(rows: int = 4) -> float:
    dataset = make_dataset(rows=rows)
    trained = train(data=dataset.outputs["data"])
    with dsl.ParallelFor(items=[1, 2, 3], name="folds") as fold:
        score_fold(data=dataset.outputs["data"], fold=fold)
    return trained.outputs["Output"]


@dsl.component(base_image="python:3.11")
def write_big(size_mb: int, blob: Output[Artifact]) -> None:
    """Writes ``size_mb`` MiB of pseudo-random bytes (no compression can shrink it)."""
    import os

    with open(blob.path, "wb") as f:
        for _ in range(size_mb):
            f.write(os.urandom(1024 * 1024))


@dsl.pipeline(name="big-artifact")
def big_artifact(size_mb: int = 100) -> None:
    write_big(size_mb=size_mb)


@dsl.component(base_image="python:3.11")
def write_empty(empty: Output[Artifact]) -> None:
    open(empty.path, "w").close()


@dsl.pipeline(name="empty-artifact")
def empty_artifact() -> None:
    """One task writing an empty artifact (the server's empty download)."""
    write_empty()
