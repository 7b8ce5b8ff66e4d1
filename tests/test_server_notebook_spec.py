"""``dsp/notebooks/spec``: a notebook of the file browser compiled into a one-step pipeline
(for the panel's "Run as pipeline step…" and "Upload as pipeline…"), and notebook pipelines'
specs loaded by kfp's own ``load_component_from_file`` and uploaded by ``kfp.Client`` through
the Jupyter server's proxy. (No ``from __future__ import annotations``: kfp reads the pipeline
function's annotations.) kfp.Client calls run in a thread: the server under test shares the
test's event loop."""

import asyncio
import json
from pathlib import Path

import kfp
import pytest
from kfp import compiler, components
from notebook_steps_helpers import make_notebook, prepare, report, train
from tornado.httpclient import HTTPClientError

from jupyter_dsp.notebooks.one_step import MAX_PATH

pytest_plugins = ("pytest_jupyter.jupyter_server", "fixtures_cluster", "fixtures_server")


@pytest.fixture
def jp_server_config(dsp_server_config):
    return dsp_server_config


async def spec_of(jp_fetch, path: object) -> dict:
    answer = await jp_fetch(
        "dsp", "notebooks", "spec", method="POST", body=json.dumps({"path": path})
    )
    return json.loads(answer.body)


async def refused(jp_fetch, body: str) -> tuple[int, str]:
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("dsp", "notebooks", "spec", method="POST", body=body)
    error = json.loads(info.value.response.body)
    assert set(error) == {"code", "message", "details"}, error  # KFP's error shape
    return info.value.code, error["message"]


def typed_notebook(directory: Path) -> Path:
    return make_notebook(
        directory / "typed.ipynb",
        [
            (
                "count = 3\nratio = 0.25\nverbose = True\nlabel = 'x'\nsizes = [1, 2]\n"
                "opts = {'a': 1}",
                ["parameters"],
            ),
            ("print(count, ratio, verbose, label, sizes, opts)", None),
        ],
    )


async def test_a_notebook_compiles_to_a_one_step_pipeline_with_typed_parameters(
    proxied_stack, jp_fetch, jp_root_dir, server_url, jupyter_token, tmp_path, unique_name
):
    (jp_root_dir / "work").mkdir()
    typed_notebook(jp_root_dir / "work")
    answer = await spec_of(jp_fetch, "work/typed.ipynb")
    assert answer["name"] == "typed" and answer["file_name"] == "typed.ipynb"
    assert sorted(answer["parameters"], key=lambda p: p["name"]) == [
        {"name": "count", "type": "NUMBER_INTEGER", "required": False, "default": 3},
        {"name": "label", "type": "STRING", "required": False, "default": "x"},
        {"name": "opts", "type": "STRUCT", "required": False, "default": {"a": 1}},
        {"name": "ratio", "type": "NUMBER_DOUBLE", "required": False, "default": 0.25},
        {"name": "sizes", "type": "LIST", "required": False, "default": [1, 2]},
        {"name": "verbose", "type": "BOOLEAN", "required": False, "default": True},
    ]
    assert list(answer["pipeline_spec"]["root"]["dag"]["tasks"]) == ["typed"]
    # the YAML is a pipeline file: kfp loads it, and it uploads through the proxy
    path = tmp_path / "typed.yaml"
    path.write_text(answer["yaml"])
    loaded = components.load_component_from_file(str(path))
    assert set(loaded.component_spec.inputs) == {
        "count",
        "ratio",
        "verbose",
        "label",
        "sizes",
        "opts",
    }
    name = unique_name("typed")

    def upload() -> object:
        via_proxy = kfp.Client(host=f"{server_url}dsp/api/project", existing_token=jupyter_token)
        return via_proxy.upload_pipeline(str(path), pipeline_name=name)

    uploaded = await asyncio.to_thread(upload)
    direct = kfp.Client(host=proxied_stack.url, existing_token=proxied_stack.token)
    assert direct.get_pipeline(uploaded.pipeline_id).display_name == name


async def test_notebook_pipeline_specs_load_and_upload_through_the_proxy(
    proxied_stack, jp_fetch, server_url, jupyter_token, tmp_path, unique_name
):
    """The three-notebook pipeline's spec and one notebook component's spec, compiled by
    kfp, loaded by kfp's own loader and uploaded by kfp.Client through dsp/api/project."""
    from jupyter_dsp import notebook_component

    prep = notebook_component(prepare(tmp_path))
    fit = notebook_component(train(tmp_path))
    rep = notebook_component(report(tmp_path))

    @kfp.dsl.pipeline(name="notebooks-via-proxy")
    def pipeline(rows: int = 8, threshold: float = 0.4) -> None:
        made = prep(rows=rows)
        trained = fit(data=made.outputs["data"], threshold=threshold)
        rep(accuracy=trained.outputs["accuracy"])

    pipeline_path, component_path = tmp_path / "pipeline.yaml", tmp_path / "train.yaml"
    compiler.Compiler().compile(pipeline, str(pipeline_path))
    compiler.Compiler().compile(fit, str(component_path))
    loaded = components.load_component_from_file(str(component_path))
    assert {"threshold", "data", "options"} <= set(loaded.component_spec.inputs)
    assert "executed_notebook" in loaded.component_spec.outputs
    whole = components.load_component_from_file(str(pipeline_path))
    assert set(whole.component_spec.inputs) == {"rows", "threshold"}
    name = unique_name("notebooks")

    def upload() -> tuple:
        via_proxy = kfp.Client(host=f"{server_url}dsp/api/project", existing_token=jupyter_token)
        made = via_proxy.upload_pipeline(str(pipeline_path), pipeline_name=name)
        version = via_proxy.upload_pipeline_version(
            str(component_path),
            pipeline_version_name=unique_name("train-only"),
            pipeline_id=made.pipeline_id,
        )
        return made, version

    uploaded, version = await asyncio.to_thread(upload)
    direct = kfp.Client(host=proxied_stack.url, existing_token=proxied_stack.token)
    stored = direct.get_pipeline_version(uploaded.pipeline_id, version.pipeline_version_id)
    assert "executed_notebook" in json.dumps(stored.pipeline_spec)
    assert direct.get_pipeline(uploaded.pipeline_id).display_name == name


async def test_bad_paths_and_notebooks_are_refused_clearly(jp_fetch, jp_root_dir, tmp_path):
    (jp_root_dir / "notes.txt").write_text("not a notebook")
    (jp_root_dir / "fake.ipynb").write_text("{not json")
    make_notebook(jp_root_dir / "bad.ipynb", [("rows = compute()", ["parameters"])])
    make_notebook(jp_root_dir / "needs.ipynb", [("data: 'Dataset' = 'x.csv'", ["parameters"])])
    typed_notebook(tmp_path)  # outside the server's root
    cases = [
        ('{"path": ""}', 400, "path (a notebook's path in the file browser) is required"),
        ("[1]", 400, "must be a JSON object"),
        ("{nope", 400, "the body must be JSON"),
        (json.dumps({"path": "notes.txt"}), 400, "'notes.txt' is not a notebook"),
        (json.dumps({"path": "../typed.ipynb"}), 403, "outside the server's root"),
        (json.dumps({"path": str(tmp_path / "typed.ipynb")}), 403, "outside the server's root"),
        (json.dumps({"path": "x" * MAX_PATH + ".ipynb"}), 400, "not a valid file browser path"),
        (json.dumps({"path": "missing.ipynb"}), 404, "no notebook at missing.ipynb"),
        (json.dumps({"path": "fake.ipynb"}), 400, "fake.ipynb"),
        (json.dumps({"path": "bad.ipynb"}), 400, "cell 1 (parameters), line 1"),
        (json.dumps({"path": "needs.ipynb"}), 400, "reads input artifacts (data)"),
    ]
    for body, status, message in cases:
        got_status, got_message = await refused(jp_fetch, body)
        assert (got_status, message in got_message) == (status, True), (body, got_message)
        assert "Traceback" not in got_message and str(tmp_path) not in got_message


async def test_the_route_needs_jupyters_authentication(jp_fetch, jp_root_dir, server_url):
    from tornado.httpclient import AsyncHTTPClient

    typed_notebook(jp_root_dir)
    with pytest.raises(HTTPClientError) as info:
        await AsyncHTTPClient().fetch(
            f"{server_url}dsp/notebooks/spec",
            method="POST",
            body=json.dumps({"path": "typed.ipynb"}),
        )
    assert info.value.code == 403
    assert b"count" not in (info.value.response.body or b"")
