"""Notebooks as pipeline steps, run on the real embedded stack: a pipeline of three notebooks
(prepare a Dataset, train with typed parameters logging Metrics and ClassificationMetrics,
report Markdown), the same mixed with a Python component, a failing cell, typed parameters in
the spec, and the spec loaded and uploaded with kfp's own client.
(No ``from __future__ import annotations``: kfp reads the pipeline functions' annotations.)
"""

import json
from pathlib import Path
from typing import Any

import kfp  # type: ignore[import-untyped]
import pytest
import yaml
from kfp import compiler, dsl  # type: ignore[import-untyped]
from notebook_steps_helpers import failing, make_notebook, prepare, report, train, typed
from results_helpers import start_run, tasks_named, wait_run

from jupyter_dsp import notebook_component
from jupyter_dsp.client import DSPClient
from jupyter_dsp.notebooks import NotebookSignatureError, NotebookTooLarge, read_signature

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def notebooks(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("notebooks")
    return {"prepare": prepare(d), "train": train(d), "report": report(d), "failing": failing(d)}


@pytest.fixture(scope="module")
def nb_stack(tmp_path_factory) -> Any:
    from jupyter_dsp.stack import start_stack

    handle = start_stack(tmp_path_factory.mktemp("nb-stack") / "data")
    handle.alice = handle.create_token("alice", {"team-a": "edit"}, "view")  # type: ignore[attr-defined]
    try:
        yield handle
    finally:
        handle.stop()


def compile_spec(pipeline: Any, directory: Path) -> dict[str, Any]:
    path = directory / f"{pipeline.name}.yaml"
    compiler.Compiler().compile(pipeline, str(path))
    return yaml.safe_load(path.read_text())


def three_notebooks(notebooks: dict[str, Path]) -> Any:
    prep = notebook_component(notebooks["prepare"])
    fit = notebook_component(notebooks["train"])
    rep = notebook_component(notebooks["report"])

    @dsl.pipeline(name="notebook-pipeline")
    def pipeline(rows: int = 8, threshold: float = 0.4) -> None:
        made = prep(rows=rows)
        trained = fit(data=made.outputs["data"], threshold=threshold, epochs=3)
        rep(accuracy=trained.outputs["accuracy"], title="Nightly")

    return pipeline


def test_signature_is_read_from_the_tagged_cells(notebooks):
    import nbformat

    sig = read_signature(nbformat.read(notebooks["train"], as_version=4))
    kinds = {d.name: (d.kind, d.default) for d in sig.inputs}
    assert kinds == {
        "data": ("Dataset", "data.csv"),
        "threshold": ("float", 0.5),
        "epochs": ("int", 2),
        "verbose": ("bool", False),
        "tag": ("str", "demo"),
        "layers": ("list", [8, 4]),
        "options": ("dict", {"optimizer": "sgd"}),
    }
    assert [(d.name, d.kind) for d in sig.outputs] == [
        ("model", "Model"),
        ("metrics", "Metrics"),
        ("confusion", "ClassificationMetrics"),
        ("accuracy", "float"),
    ]


def test_typed_parameters_in_the_compiled_spec(notebooks, tmp_path):
    fit = notebook_component(notebooks["train"])
    spec = fit.component_spec.to_dict() if hasattr(fit.component_spec, "to_dict") else None
    inputs = fit.component_spec.inputs
    assert (inputs["threshold"].type, inputs["threshold"].default) == ("Float", 0.5)
    assert (inputs["epochs"].type, inputs["verbose"].type) == ("Integer", "Boolean")
    assert (inputs["tag"].type, inputs["layers"].type, inputs["options"].type) == (
        "String",
        "List",
        "Dict",
    )
    assert inputs["layers"].default == [8, 4] and inputs["options"].default == {"optimizer": "sgd"}
    outputs = fit.component_spec.outputs
    assert outputs["executed_notebook"].type.startswith("system.Artifact")
    assert outputs["notebook_html"].type.startswith("system.HTML")
    assert outputs["confusion"].type.startswith("system.ClassificationMetrics")
    assert spec is None or isinstance(spec, dict)


def test_bad_declarations_and_size_are_refused_clearly(tmp_path):
    bad = make_notebook(tmp_path / "bad.ipynb", [("rows = compute()", ["parameters"])])
    with pytest.raises(NotebookSignatureError, match=r"cell 1 \(parameters\), line 1.*literal"):
        notebook_component(bad)
    typo = make_notebook(tmp_path / "typo.ipynb", [("m: Modle = 'x'", ["outputs"])])
    with pytest.raises(NotebookSignatureError, match="Modle is not a type"):
        notebook_component(typo)
    big = make_notebook(tmp_path / "big.ipynb", [("x = 1\n# " + "y" * (3 * 1024 * 1024), None)])
    with pytest.raises(NotebookTooLarge, match="at most 2 MB"):
        notebook_component(big)


def test_three_notebooks_run_and_pass_values_and_artifacts(nb_stack, notebooks, tmp_path):
    spec = compile_spec(three_notebooks(notebooks), tmp_path)
    run_id = start_run(nb_stack.url, nb_stack.alice, spec, "team-a", {"rows": 10})
    run = wait_run(nb_stack.url, nb_stack.alice, run_id, timeout=600)
    assert run["state"] == "SUCCEEDED", json.dumps(run.get("error"))
    client = DSPClient.from_endpoint(nb_stack.url, nb_stack.alice, namespace="team-a")
    doc = client.results(run_id)
    [prep] = tasks_named(doc, "prepare")
    assert prep["outputs"]["parameters"]["written"] == 10
    [fit] = tasks_named(doc, "train")
    assert fit["inputs"]["parameters"]["threshold"] == 0.4
    accuracy = fit["outputs"]["parameters"]["accuracy"]
    assert 0 <= accuracy <= 1
    arts = fit["outputs"]["artifacts"]
    assert arts["metrics"][0]["metadata"]["accuracy"] == accuracy
    assert arts["metrics"][0]["metadata"]["rows"] == 10
    matrix = arts["confusion"][0]["metadata"]["confusionMatrix"]
    assert sum(map(sum, [r["row"] for r in matrix["rows"]])) == 10
    model = client.read_artifact(run_id, arts["model"][0]["artifact_id"]).decode()
    assert model == "threshold=0.4 epochs=3 layers=[8, 4]"
    [rep] = tasks_named(doc, "report")
    assert rep["inputs"]["parameters"]["accuracy"] == accuracy
    summary = client.read_artifact(run_id, rep["outputs"]["artifacts"]["summary"][0]["artifact_id"])
    assert summary.decode() == f"# Nightly\n\nAccuracy: **{accuracy:.2f}**\n"
    # every notebook step's executed notebook and its HTML page
    executed = rep["outputs"]["artifacts"]["executed_notebook"][0]
    ran = json.loads(client.read_artifact(run_id, executed["artifact_id"]))
    sources = ["".join(c["source"]) for c in ran["cells"]]
    assert "accuracy = " + repr(accuracy) in "\n".join(sources)  # injected after parameters
    trained = json.loads(client.read_artifact(run_id, arts["executed_notebook"][0]["artifact_id"]))
    printed = [
        "".join(o.get("text", ""))
        for c in trained["cells"]
        if c["cell_type"] == "code"
        for o in c.get("outputs", [])
    ]
    assert f"accuracy {accuracy}\n" in printed
    page = rep["outputs"]["artifacts"]["notebook_html"][0]
    assert b"<html" in client.read_artifact(run_id, page["artifact_id"], 100_000).lower()

    # %dsp outputs' objects: metrics, charts and each executed notebook
    results = client.get_run(run_id).outputs
    assert results["train"].metrics["accuracy"] == accuracy
    bundle = results["train"]._repr_mimebundle_()
    assert "application/vnd.vegalite.v5+json" in json.dumps(list(bundle)) or bundle


def test_notebooks_mix_with_python_components(nb_stack, notebooks, tmp_path):
    prep = notebook_component(notebooks["prepare"])

    @dsl.component(base_image="python:3.11")
    def count_lines(data: dsl.Input[dsl.Dataset]) -> int:
        with open(data.path) as f:
            return len(f.read().splitlines())

    @dsl.pipeline(name="mixed-pipeline")
    def mixed() -> int:
        return count_lines(data=prep(rows=4).outputs["data"]).output

    spec = compile_spec(mixed, tmp_path)
    run_id = start_run(nb_stack.url, nb_stack.alice, spec, "team-a")
    run = wait_run(nb_stack.url, nb_stack.alice, run_id, timeout=600)
    assert run["state"] == "SUCCEEDED", json.dumps(run.get("error"))
    doc = DSPClient.from_endpoint(nb_stack.url, nb_stack.alice, namespace="team-a").results(run_id)
    assert doc["pipeline_outputs"]["parameters"] == {"Output": 5}  # header + 4 rows


def test_a_failing_cell_names_the_cell_and_keeps_the_partial_notebook(
    nb_stack, notebooks, tmp_path
):
    step = notebook_component(notebooks["failing"])

    @dsl.pipeline(name="failing-notebook")
    def broken() -> None:
        step()

    spec = compile_spec(broken, tmp_path)
    run_id = start_run(nb_stack.url, nb_stack.alice, spec, "team-a")
    run = wait_run(nb_stack.url, nb_stack.alice, run_id, timeout=600)
    assert run["state"] == "FAILED"
    client = DSPClient.from_endpoint(nb_stack.url, nb_stack.alice, namespace="team-a")
    [task] = [t for t in client.get_run(run_id).tasks if t.name == "failing"]
    log = client.logs(run_id, task.name) if hasattr(client, "logs") else ""
    text = log if isinstance(log, str) else str(log)
    assert "the notebook failed in cell 3 ('ratio = 10 / divisor" in text
    assert "ZeroDivisionError: division by zero" in text and "Traceback" in text
    doc = client.results(run_id)
    [failed] = tasks_named(doc, "failing")
    kept = failed["outputs"]["artifacts"]
    assert set(kept) == {"executed_notebook", "notebook_html"}, kept
    partial = json.loads(client.read_artifact(run_id, kept["executed_notebook"][0]["artifact_id"]))
    printed = [
        "".join(o.get("text", ""))
        for c in partial["cells"]
        for o in c.get("outputs", [])
        if o.get("output_type") == "stream"
    ]
    assert printed == ["before the failure\n"]  # the cells after the failure never ran
    errors = [
        o for c in partial["cells"] for o in c.get("outputs", []) if o["output_type"] == "error"
    ]
    assert [e["ename"] for e in errors] == ["ZeroDivisionError"]


def test_spec_loads_and_uploads_with_kfps_own_client(nb_stack, notebooks, tmp_path):
    from kfp import components

    fit = notebook_component(notebooks["train"])
    path = tmp_path / "train-component.yaml"
    compiler.Compiler().compile(fit, str(path))
    loaded = components.load_component_from_file(str(path))
    assert set(loaded.component_spec.inputs) >= {"threshold", "data", "options"}
    pipeline_path = tmp_path / "pipeline.yaml"
    compiler.Compiler().compile(three_notebooks(notebooks), str(pipeline_path))
    client = kfp.Client(host=nb_stack.url, existing_token=nb_stack.alice, namespace="team-a")
    uploaded = client.upload_pipeline(
        str(pipeline_path), pipeline_name="notebook-pipeline-upload", namespace="team-a"
    )
    assert uploaded.pipeline_id


def test_dsp_run_a_notebook_as_a_one_step_pipeline(shell, notebooks, tmp_path):
    from IPython.core.error import UsageError

    path = notebooks["prepare"]
    run = shell.run_line_magic("dsp", f"run {path} -p rows=3 --wait --timeout 600")
    assert run.state == "SUCCEEDED", run.error
    assert run.parameters["rows"] == 3
    outputs = shell.run_line_magic("dsp", f"outputs {run.id}")
    prep = outputs["prepare"]
    assert prep["written"] == 3
    assert prep["data"].read_text().splitlines()[0] == "x,label"
    names = {a.name for a in prep.all_artifacts()}
    assert {"data", "executed_notebook", "notebook_html"} <= names
    shown = prep._repr_mimebundle_()
    html = str(shown.get("text/html", shown))
    assert "executed_notebook" in html and "<iframe" in html and "sandbox" in html
    # a notebook that needs input artifacts cannot run alone: said plainly
    with pytest.raises(UsageError, match="reads input artifacts \\(data\\)"):
        shell.run_line_magic("dsp", f"run {notebooks['train']}")
    compiled = shell.run_line_magic("dsp", f"compile {path} -o {tmp_path / 'prep.yaml'}")
    assert set(compiled.parameters) == {"rows", "seed"}


def test_the_step_runs_in_a_clean_virtualenv_from_the_spec_alone(tmp_path, monkeypatch):
    """KFP's own local runner with a fresh virtualenv (no site-packages of the workbench; only
    kfp and the step's declared packages installed), after the notebook file is deleted and
    from another directory: the step has only what the spec carries."""
    import shutil

    import kfp.local as local  # type: ignore[import-untyped]

    source = tmp_path / "workbench"
    source.mkdir()
    component = notebook_component(prepare(source))
    shutil.rmtree(source)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    local.init(runner=local.SubprocessRunner(use_venv=True), pipeline_root=str(tmp_path / "root"))
    task = component(rows=4, seed=1)
    assert task.outputs["written"] == 4
    with open(task.outputs["data"].path) as f:
        assert f.read() == "x,label\n0,0\n1,1\n2,0\n3,1\n"
    with open(task.outputs["executed_notebook"].path) as f:
        assert json.load(f)["cells"][1]["metadata"]["tags"] == ["parameters"]


def test_run_form_offers_a_typed_input_per_notebook_parameter(nb_stack, tmp_path):
    """The RunForm of a notebook: a checkbox for the bool, text for int/float/str, JSON text
    areas for list/dict, the notebook's defaults filled; the run gets typed values."""
    import ipywidgets as widgets

    from jupyter_dsp.widgets import RunForm

    client = DSPClient.from_endpoint(nb_stack.url, nb_stack.alice, namespace="team-a")
    form = RunForm(client, str(typed(tmp_path)), watch=False)
    inputs = form.inputs
    assert {n: type(w) for n, w in inputs.items()} == {
        "count": widgets.Text,
        "ratio": widgets.Text,
        "verbose": widgets.Checkbox,
        "label": widgets.Text,
        "sizes": widgets.Textarea,
        "opts": widgets.Textarea,
    }
    assert [inputs[n].value for n in ("count", "ratio", "verbose", "label")] == [
        "3",
        "0.25",
        True,
        "x",
    ]
    assert json.loads(inputs["sizes"].value) == [1, 2]
    assert json.loads(inputs["opts"].value) == {"a": 1}
    inputs["count"].value = "2.5"
    assert form.submit() is None and "'count' expects int" in form.message
    inputs["count"].value = "5"
    inputs["verbose"].value = False
    inputs["sizes"].value = "[3, 4]"
    inputs["opts"].value = '{"b": 2}'
    run = form.submit()
    assert run is not None, form.message
    done = client.wait(run.id, timeout=600)
    assert done.state == "SUCCEEDED", done.error
    expected = {"count": 5, "ratio": 0.25, "verbose": False, "label": "x", "sizes": [3, 4]}
    assert done.parameters == {**expected, "opts": {"b": 2}}
    [task] = tasks_named(client.results(run.id), "typed")
    executed = task["outputs"]["artifacts"]["executed_notebook"][0]["artifact_id"]
    ran = json.loads(client.read_artifact(run.id, executed))
    printed = "".join(
        "".join(o.get("text", "")) for c in ran["cells"] for o in c.get("outputs", [])
    )
    assert printed == "got 10 0.25 False x [3, 4, 0] [('b', 2)]\n"
