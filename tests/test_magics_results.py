"""%dsp outputs / download / compare and the RunMonitor's outputs, in a real IPython shell against
a real embedded stack running tests/results_pipelines.py's showcase (every artifact type)."""

from __future__ import annotations

import csv
import io
import json
import os

import altair
import jsonschema
import pytest
import results_pipelines as rp
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output
from kernel_helpers import client_for

from jupyter_dsp.client.comparison import Comparison
from jupyter_dsp.client.outputs import ArtifactOutput, Outputs, RunResults
from jupyter_dsp.widgets import RunMonitor

VEGALITE = "application/vnd.vegalite.v5+json"
WAIT = "--wait --timeout 300"
TYPES = {
    "system.Dataset",
    "system.Model",
    "system.Metrics",
    "system.ClassificationMetrics",
    "system.SlicedClassificationMetrics",
    "system.HTML",
    "system.Markdown",
    "system.Artifact",
}


@pytest.fixture(scope="module")
def vegalite_schema() -> jsonschema.protocols.Validator:
    path = os.path.join(
        os.path.dirname(altair.__file__), "vegalite/v5/schema/vega-lite-schema.json"
    )
    with open(path) as f:
        return jsonschema.Draft7Validator(json.load(f))


def start_showcase(shell, rows: int = 4):
    shell.user_ns["showcase"] = rp.showcase
    run = shell.run_line_magic("dsp", f"run showcase -p rows={rows} {WAIT}")
    assert run.state == "SUCCEEDED", run.error
    return run


def shown(shell, line: str) -> list[dict]:
    """The MIME bundles a cell ``line`` displays (its result included)."""
    with capture_output() as captured:
        result = shell.run_cell(line)
    result.raise_error()
    return [o.data for o in captured.outputs]


def charts(bundles: list[dict], schema) -> list[dict]:
    specs = [b[VEGALITE] for b in bundles if VEGALITE in b]
    for spec, bundle in zip(specs, [b for b in bundles if VEGALITE in b], strict=True):
        errors = [e.message for e in schema.iter_errors(spec)]
        assert not errors, (spec.get("title"), errors[:3])
        assert bundle["text/plain"] and bundle["image/svg+xml"].startswith("<svg")
        assert "text/html" not in bundle  # JupyterLab would prefer HTML over the chart
    return specs


def test_outputs_show_every_output_of_the_showcase(shell, vegalite_schema, tmp_path):
    run = start_showcase(shell)
    shell.user_ns["r"] = run
    results = shell.run_line_magic("dsp", "outputs r")
    assert isinstance(results, RunResults) and results.state == "SUCCEEDED"

    # values: typed parameters, metrics as a dict, the pipeline's own output
    assert results.pipeline["Output"] == 0.75
    assert results["make-dataset"]["Output"] == 4 and isinstance(
        results["make-dataset"]["Output"], int
    )
    assert results["train"]["Output"] == 0.75
    assert results["train"].metrics == rp.SCALARS
    folds = sorted(v for k, v in results.metrics.items() if k.endswith(".fold_score"))
    assert folds == [10, 20, 30]  # each ParallelFor iteration keeps its own metrics
    types = {a.type for t in results.tasks for a in t.outputs.all_artifacts()}
    assert types >= TYPES

    # the same values from the Run object: run.outputs and task.outputs
    shown_run = shell.run_line_magic("dsp", "show r")
    assert shown_run.outputs["train"].metrics == rp.SCALARS
    assert shown_run.task("train").outputs["Output"] == 0.75
    assert shown_run.task("make-dataset").outputs["data"].type == "system.Dataset"

    # the dataset reads as a DataFrame, the model as text
    frame = results["make-dataset"]["data"].to_dataframe()
    expected = list(csv.DictReader(io.StringIO(rp.DATASET_CSV)))
    assert list(frame.columns) == ["x", "y", "label"] and len(frame) == len(expected)
    assert list(frame["label"]) == [row["label"] for row in expected]
    assert results["train"]["model"].read_text() == rp.MODEL_TEXT

    # what the cell displays: every output, charts as valid Vega-Lite
    bundles = shown(shell, "%dsp outputs r")
    specs = charts(bundles, vegalite_schema)
    titles = [s["title"] for s in specs]
    assert "train.metrics" in titles  # bar chart of the two metrics
    assert "train.classification: confusion matrix" in titles
    assert "train.classification: ROC curve" in titles
    assert any(t.startswith("train.sliced [overall]") for t in titles)
    heatmap = specs[titles.index("train.classification: confusion matrix")]
    cells = {(v["actual"], v["predicted"]): v["count"] for v in heatmap["data"]["values"]}
    assert cells == {("cat", "cat"): 3, ("cat", "dog"): 1, ("dog", "cat"): 1, ("dog", "dog"): 3}
    assert [
        m["mark"] if isinstance(m["mark"], str) else m["mark"]["type"] for m in heatmap["layer"]
    ] == ["rect", "text"]
    roc = specs[titles.index("train.classification: ROC curve")]
    diagonal, curve = roc["layer"]
    assert diagonal["data"]["values"] == [{"fpr": 0, "recall": 0}, {"fpr": 1, "recall": 1}]
    assert [(p["fpr"], p["recall"]) for p in curve["data"]["values"]] == list(
        zip(rp.ROC["fpr"], rp.ROC["tpr"], strict=True)
    )
    assert curve["encoding"]["x"]["field"] == "fpr" and curve["encoding"]["y"]["field"] == "recall"
    # Markdown reports come rendered and sanitized (never text/markdown, which a front end
    # would render unsanitized): one HTML rendering, its source as the plain-text fallback
    assert not [b for b in bundles if "text/markdown" in b]
    markdown = [b for b in bundles if 'class="dsp-markdown"' in b.get("text/html", "")]
    assert [b["text/plain"] for b in markdown] == [rp.MARKDOWN_TEXT]
    assert "<td>accuracy</td>" in markdown[0]["text/html"]
    html = "\n".join(b.get("text/html", "") for b in bundles)
    assert '<iframe sandbox=""' in html and "&lt;h1&gt;Report&lt;/h1&gt;" in html
    assert rp.HTML_TEXT not in html  # the HTML report only ever inside the iframe
    assert "<td>cat</td>" in html and "<th>label</th>" in html  # dataset rows
    text = "\n".join(b["text/plain"] for b in bundles)
    for name in ("make-dataset", "train", "model", "notes", "accuracy: 0.75", "Output = 0.75"):
        assert name in text, name


def test_outputs_of_one_task_download_and_usage_errors(shell, tmp_path):
    run = start_showcase(shell, rows=3)
    shell.user_ns["r3"] = run
    train = shell.run_line_magic("dsp", "outputs r3 train")
    assert isinstance(train, Outputs)
    assert train["Output"] == 0.75 and isinstance(train["notes"], ArtifactOutput)
    assert train["notes"].read_text() == rp.NOTES_TEXT

    target = tmp_path / "downloads"
    target.mkdir()
    with capture_output() as captured:
        path = shell.run_line_magic("dsp", f"download {run.id} train model -o {target}")
    assert path.parent == target and path.read_text() == rp.MODEL_TEXT
    assert "downloaded model" in captured.stdout + "".join(
        o.data.get("text/plain", "") for o in captured.outputs
    )
    named = shell.run_line_magic("dsp", f"download r3 make-dataset data -o {tmp_path}/d.csv")
    assert named.read_text().startswith("x,y,label\n") and named.name == "d.csv"

    with pytest.raises(UsageError, match="no task 'nope'.*train"):
        shell.run_line_magic("dsp", "outputs r3 nope")
    with pytest.raises(UsageError, match="no output artifact 'nope'.*model"):
        shell.run_line_magic("dsp", "download r3 train nope")
    with pytest.raises(UsageError, match="No such directory"):
        shell.run_line_magic("dsp", f"download r3 train model -o {tmp_path}/no/such/file")
    with pytest.raises(UsageError, match="two or more"):
        shell.run_line_magic("dsp", "compare r3 r3")
    with pytest.raises(UsageError, match="arguments are required|ARTIFACT"):
        shell.run_line_magic("dsp", "download r3 train")
    assert "%dsp outputs" in shell.find_line_magic("dsp").__doc__


def test_compare_three_runs_side_by_side(shell, vegalite_schema):
    runs = [start_showcase(shell, rows=n) for n in (2, 3, 4)]
    ids = " ".join(r.id for r in runs)
    comparison = shell.run_line_magic("dsp", f"compare {ids}")
    assert isinstance(comparison, Comparison) and len(comparison.runs) == 3
    labels = comparison.labels
    assert [comparison.parameters["rows"][label] for label in labels] == [2, 3, 4]
    assert [comparison.metrics["train.accuracy"][label] for label in labels] == [0.75] * 3
    assert "rows" in comparison.differences
    assert "make-dataset.Output" not in comparison.metrics  # values are not metrics
    assert "train.accuracy" not in comparison.differences

    bundles = shown(shell, f"%dsp compare {ids}")
    table = bundles[0]["text/html"]
    for run in runs:
        assert run.name in table or run.id[:8] in table
    assert table.count('data-differs="true"') >= 1
    specs = charts(bundles, vegalite_schema)
    assert {s["title"] for s in specs} == set(comparison.metrics)
    accuracy = next(s for s in specs if s["title"] == "train.accuracy")
    assert [v["value"] for v in accuracy["data"]["values"]] == [0.75] * 3
    frame = comparison.to_dataframe()
    assert frame.loc[("parameters", "rows")].tolist() == [2, 3, 4]


def test_monitor_shows_outputs_and_a_clicked_tasks_renderings(stack, shell):
    run = start_showcase(shell, rows=2)
    monitor = RunMonitor(client_for(stack), run.id, poll_interval=0.2)
    monitor.wait(60)
    summary = monitor.outputs_view.summary.value
    for task in ("make-dataset", "train", "score-fold"):
        assert task in summary, task
    assert "accuracy 0.75" in summary and "Output = <code>2</code>" in summary
    monitor.select_task("train")
    data = [o["data"] for o in monitor.outputs_view.detail.outputs]
    assert sum(VEGALITE in d for d in data) >= 4  # metrics bars, confusion, ROC, sliced ROC
    assert any('class="dsp-markdown"' in d.get("text/html", "") for d in data)
    assert any("<iframe sandbox" in d.get("text/html", "") for d in data)
    inputs = "".join(d.get("text/html", "") for d in data)
    assert "data" in inputs and "system.Dataset" in inputs  # the task's input artifact
