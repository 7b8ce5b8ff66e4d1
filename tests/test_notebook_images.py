"""The image a notebook step runs on: Open Data Hub's runtime images (Elyra's runtime-image
files in Jupyter's data path, as an ODH workbench has them), the notebook's own choice in its
metadata, ``base_image=``/``runtime_image=``, and the workbench's Python by default; through
``notebook_component``, ``%dsp compile|run NOTEBOOK`` (compile_source) and the file browser's
``dsp/notebooks/spec``."""

import json
import sys
from pathlib import Path

import nbformat
import pytest
from notebook_steps_helpers import make_notebook
from tornado.httpclient import HTTPClientError

from jupyter_dsp import notebook_component
from jupyter_dsp.client.compiling import compile_source
from jupyter_dsp.client.errors import ArgumentError
from jupyter_dsp.notebooks import UnknownRuntimeImage, runtime_images

pytest_plugins = ("pytest_jupyter.jupyter_server", "fixtures_cluster", "fixtures_server")

DATASCIENCE = "quay.io/modh/runtime-images@sha256:" + "1" * 64
PYTORCH = "quay.io/modh/runtime-images@sha256:" + "2" * 64


@pytest.fixture
def jp_server_config(dsp_server_config):
    return dsp_server_config


@pytest.fixture
def odh_images(tmp_path, monkeypatch) -> Path:
    """Runtime-image files shaped as ODH's workbench has them, on Jupyter's data path."""
    data = tmp_path / "share-jupyter"
    folder = data / "metadata" / "runtime-images"
    folder.mkdir(parents=True)
    for name, shown, image in [
        ("datascience-ubi9-python-3.12", "Datascience with Python 3.12 (UBI9)", DATASCIENCE),
        ("pytorch-ubi9-python-3.12", "PyTorch with CUDA and Python 3.12 (UBI9)", PYTORCH),
    ]:
        (folder / f"{name}.json").write_text(
            json.dumps(
                {
                    "display_name": shown,
                    "metadata": {
                        "tags": [],
                        "display_name": shown,
                        "image_name": image,
                        "pull_policy": "IfNotPresent",
                    },
                    "schema_name": "runtime-image",
                }
            )
        )
    (folder / "broken.json").write_text("{not json")
    (folder / "no-image.json").write_text(json.dumps({"display_name": "x", "metadata": {}}))
    monkeypatch.setenv("JUPYTER_PATH", str(data))
    return folder


def notebook(directory: Path, image: object = None, name: str = "prep") -> Path:
    path = make_notebook(
        directory / f"{name}.ipynb", [("rows = 3", ["parameters"]), ("print(rows)", None)]
    )
    if image is not None:
        nb = nbformat.read(path, as_version=4)
        nb.metadata["jupyter_dsp"] = {"image": image}
        nbformat.write(nb, path)
    return path


def images_of(spec: dict) -> list[str]:
    executors = spec["deploymentSpec"]["executors"].values()
    return [e["container"]["image"] for e in executors]


def test_the_workbench_runtime_images_are_found(odh_images):
    found = {i.display_name: i.image for i in runtime_images()}
    assert found == {
        "Datascience with Python 3.12 (UBI9)": DATASCIENCE,
        "PyTorch with CUDA and Python 3.12 (UBI9)": PYTORCH,
    }  # the unreadable file and the one without an image are skipped


def test_a_notebook_runs_on_the_image_it_or_its_caller_chooses(odh_images, tmp_path):
    workbench = f"python:{sys.version_info.major}.{sys.version_info.minor}"
    plain = notebook(tmp_path)
    assert images_of(compile_source(str(plain)).spec) == [workbench]

    by_name = notebook(tmp_path, "PyTorch with CUDA and Python 3.12 (UBI9)", "torch")
    assert images_of(compile_source(str(by_name)).spec) == [PYTORCH]  # %dsp compile|run
    by_file = notebook(tmp_path, "datascience-ubi9-python-3.12", "ds")
    assert images_of(compile_source(str(by_file)).spec) == [DATASCIENCE]
    by_ref = notebook(tmp_path, "registry.example.com/team/step:1.0", "ref")
    assert images_of(compile_source(str(by_ref)).spec) == ["registry.example.com/team/step:1.0"]

    # the caller's choice wins over the notebook's
    component = notebook_component(by_name, runtime_image="datascience with python 3.12 (ubi9)")
    assert component.component_spec.implementation.container.image == DATASCIENCE
    component = notebook_component(by_name, base_image="python:3.13")
    assert component.component_spec.implementation.container.image == "python:3.13"
    with pytest.raises(ValueError, match="not both"):
        notebook_component(plain, base_image="python:3.13", runtime_image="x")


def test_an_unknown_runtime_image_names_the_ones_there(odh_images, tmp_path):
    with pytest.raises(UnknownRuntimeImage) as info:
        notebook_component(notebook(tmp_path), runtime_image="TensorFlow 2")
    assert "'Datascience with Python 3.12 (UBI9)'" in str(info.value)
    assert "'PyTorch with CUDA and Python 3.12 (UBI9)'" in str(info.value)

    wrong = notebook(tmp_path, "Standard Data Science", "std")  # a name with spaces: not an image
    with pytest.raises(ArgumentError, match="no runtime image 'Standard Data Science'"):
        compile_source(str(wrong))
    blank = notebook(tmp_path, "", "blank")
    with pytest.raises(ArgumentError, match="must name a runtime image or an image reference"):
        compile_source(str(blank))


async def test_the_file_browser_route_uses_the_notebooks_image(odh_images, jp_fetch, jp_root_dir):
    notebook(jp_root_dir, "Datascience with Python 3.12 (UBI9)", "chosen")
    answer = await jp_fetch(
        "dsp", "notebooks", "spec", method="POST", body=json.dumps({"path": "chosen.ipynb"})
    )
    assert images_of(json.loads(answer.body)["pipeline_spec"]) == [DATASCIENCE]

    notebook(jp_root_dir, "Missing Image Name", "missing")
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch(
            "dsp", "notebooks", "spec", method="POST", body=json.dumps({"path": "missing.ipynb"})
        )
    assert info.value.code == 400
    error = json.loads(info.value.response.body)
    assert "no runtime image 'Missing Image Name'" in error["message"]
    assert "Datascience with Python 3.12 (UBI9)" in error["message"]


async def test_the_file_browser_route_offers_and_takes_a_runtime_image(
    odh_images, jp_fetch, jp_root_dir
):
    notebook(jp_root_dir, "Datascience with Python 3.12 (UBI9)", "pick")

    async def spec(**body: object) -> dict:
        body = {"path": "pick.ipynb", **body}
        answer = await jp_fetch("dsp", "notebooks", "spec", method="POST", body=json.dumps(body))
        return json.loads(answer.body)

    first = await spec()
    assert first["image"] == DATASCIENCE  # the notebook's own choice
    assert [(i["display_name"], i["image"]) for i in first["runtime_images"]] == [
        ("Datascience with Python 3.12 (UBI9)", DATASCIENCE),
        ("PyTorch with CUDA and Python 3.12 (UBI9)", PYTORCH),
    ]
    chosen = await spec(image="PyTorch with CUDA and Python 3.12 (UBI9)")
    assert chosen["image"] == PYTORCH and images_of(chosen["pipeline_spec"]) == [PYTORCH]
    assert f"image: {PYTORCH}" in chosen["yaml"]  # what "Upload as Pipeline…" uploads
    by_file = await spec(image="pytorch-ubi9-python-3.12")
    assert by_file["image"] == PYTORCH
    by_ref = await spec(image="python:3.13")
    assert images_of(by_ref["pipeline_spec"]) == ["python:3.13"]

    for bad, says in [
        ("TensorFlow 2", "no runtime image 'TensorFlow 2'"),
        (["python:3.12"], "image must be a runtime image's name or an image reference"),
        ("python:3.12\nx", "image must be a runtime image's name or an image reference"),
        ("x" * 600, "image must be a runtime image's name or an image reference"),
    ]:
        with pytest.raises(HTTPClientError) as info:
            await spec(image=bad)
        assert info.value.code == 400, bad
        assert says in json.loads(info.value.response.body)["message"], bad


async def test_without_runtime_images_the_route_offers_none(jp_fetch, jp_root_dir, monkeypatch):
    monkeypatch.setenv("JUPYTER_PATH", str(jp_root_dir / "nothing-here"))
    notebook(jp_root_dir, name="plain")
    answer = await jp_fetch(
        "dsp", "notebooks", "spec", method="POST", body=json.dumps({"path": "plain.ipynb"})
    )
    got = json.loads(answer.body)
    assert got["runtime_images"] == []
    assert got["image"] == f"python:{sys.version_info.major}.{sys.version_info.minor}"


def test_dsp_image_option_chooses_for_one_command(odh_images, shell, tmp_path):
    """``%dsp compile|upload|run prep.ipynb --image NAME``: the step runs on that image for this
    command; a wrong name or an image for a non-notebook is a UsageError naming the fix."""
    import uuid

    from IPython.core.error import UsageError

    stem = f"imaged-{uuid.uuid4().hex[:8]}"
    path = notebook(tmp_path, "Datascience with Python 3.12 (UBI9)", stem)
    name = "PyTorch with CUDA and Python 3.12 (UBI9)"
    compiled = shell.run_line_magic("dsp", f'compile {path} --image "{name}"')
    assert images_of(compiled.spec) == [PYTORCH]
    assert images_of(shell.run_line_magic("dsp", f"compile {path}").spec) == [DATASCIENCE]

    # run on an image reference (the embedded stack runs the lightweight step here)
    run = shell.run_line_magic("dsp", f"run {path} --image python:3.11 --wait --timeout 600")
    assert run.state == "SUCCEEDED", run.error
    assert images_of(shell.run_line_magic("dsp", f"show {run.id}").spec) == ["python:3.11"]
    # upload on a runtime image given by its file name; the stored version has it
    shell.run_line_magic("dsp", f"upload {path} --image pytorch-ubi9-python-3.12")
    assert images_of(shell.run_line_magic("dsp", f"compile {stem}").spec) == [PYTORCH]

    with pytest.raises(UsageError, match="no runtime image 'TensorFlow 2'"):
        shell.run_line_magic("dsp", f'run {path} --image "TensorFlow 2"')
    yaml_file = tmp_path / "p.yaml"
    yaml_file.write_text(compiled.to_yaml())
    with pytest.raises(UsageError, match=r"for a notebook \(.ipynb\) only"):
        shell.run_line_magic("dsp", f"compile {yaml_file} --image python:3.12")
