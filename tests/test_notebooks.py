"""The guided notebooks run headless (nbclient, a real ipykernel) against an embedded stack.

Each notebook gets a fresh stack, announced to its kernel the way the server extension does it
on a laptop: the runtime file ``jupyter-dsp-stack.json`` in the kernel's Jupyter runtime dir.
Each runs **twice in a row** against that one stack, in the same working directory (a user
pressing Run All again): both runs pass. Besides running without an error, a notebook must
leave on the stack what it says it did, print what a reader is told to look for, leave
nothing behind that it simulated, and never show a token.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import nbformat
import pytest
import requests
from nbclient import NotebookClient

from jupyter_dsp.connection.embedded import RUNTIME_FILE_NAME, EmbeddedInfo, write_runtime_file

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
ALL = (
    "01-quickstart",
    "02-shared-pipelines",
    "03-widgets",
    "04-on-a-cluster",
    "05-results-and-compare",
    "06-notebook-pipelines",
)
API = "/apis/v2beta1"
VEGALITE = "application/vnd.vegalite.v5+json"


def runs_supported(stack: Any) -> bool:
    response = requests.get(
        f"{stack.url}{API}/runs",
        headers={"Authorization": f"Bearer {stack.token}"},
        params={"namespace": "default", "page_size": 1},
        timeout=30,
    )
    return response.status_code != 501


def has_run_cells(nb: Any) -> bool:
    return any("runs" in c.metadata.get("tags", []) for c in nb.cells)


def kernel_env(stack: Any, tmp_path: Path) -> dict[str, str]:
    """The environment of a notebook kernel that only knows the stack's runtime file."""
    runtime = tmp_path / "runtime"
    write_runtime_file(
        EmbeddedInfo(stack.url, stack.token, stack.pid, os.getpid(), "default"),
        runtime / RUNTIME_FILE_NAME,
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("JUPYTER_DSP_", "KF_PIPELINES_", "KUBERNETES_SERVICE_"))
    }
    env.update(
        JUPYTER_RUNTIME_DIR=str(runtime),
        JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter-config"),
        JUPYTER_DSP_SA_DIR=str(tmp_path / "no-service-account"),
        PYDEVD_DISABLE_FILE_VALIDATION="1",
    )
    return env


def outputs_text(nb: Any) -> str:
    parts: list[str] = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                parts.append(out.get("text", ""))
            for value in (out.get("data") or {}).values():
                parts.append(value if isinstance(value, str) else str(value))
            if out.get("output_type") == "error":
                parts.append("\n".join(out.get("traceback", [])))
    return "\n".join(parts)


def execute(name: str, stack: Any, tmp_path: Path) -> tuple[Any, str]:
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    workdir = tmp_path / "work"
    workdir.mkdir(exist_ok=True)  # the second run: the same directory, as a user's
    client = NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute(env=kernel_env(stack, tmp_path))
    text = outputs_text(nb)
    assert stack.token not in text, "a token leaked into a notebook's output"
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors
    return nb, text


def execute_twice(name: str, stack: Any, tmp_path: Path) -> list[tuple[Any, str]]:
    """Run All, then Run All again against the same stack: both must pass."""
    return [execute(name, stack, tmp_path) for _ in range(2)]


def api(stack: Any, path: str, **params: str) -> dict[str, Any]:
    response = requests.get(
        f"{stack.url}{API}{path}",
        headers={"Authorization": f"Bearer {stack.token}"},
        params=params,
        timeout=30,
    )
    response.raise_for_status()
    return response.json()


def pipelines(stack: Any, namespace: str | None) -> dict[str, str]:
    params = {"page_size": "200"}
    if namespace is not None:
        params["namespace"] = namespace
    listed = api(stack, "/pipelines", **params).get("pipelines", [])
    return {p["display_name"]: p["pipeline_id"] for p in listed}


def version_names(stack: Any, pipeline_id: str) -> list[str]:
    listed = api(stack, f"/pipelines/{pipeline_id}/versions", page_size="200")
    return [v["display_name"] for v in listed.get("pipeline_versions", [])]


def runs_of(stack: Any) -> list[dict[str, Any]]:
    return api(stack, "/runs", namespace="default", page_size="200").get("runs", [])


@pytest.fixture
def nb_stack(stack_factory):
    handle = stack_factory()
    handle.runs = runs_supported(handle)  # type: ignore[attr-defined]
    return handle


def skip_runs_if_unsupported(name: str, stack: Any) -> None:
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    if has_run_cells(nb) and not stack.runs:
        pytest.fail(f"{name} has run cells but the embedded stack does not run pipelines")


@pytest.mark.parametrize("name", ALL)
def test_committed_without_outputs(name):
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")


def test_01_quickstart(nb_stack, tmp_path):
    skip_runs_if_unsupported("01-quickstart", nb_stack)
    for rounds in (1, 2):
        nb, text = execute("01-quickstart", nb_stack, tmp_path)
        assert "DSP embedded: namespace 'default'" in text
        assert (tmp_path / "work" / "quickstart-hello.yaml").is_file()
        private = pipelines(nb_stack, "default")
        shared = pipelines(nb_stack, None)
        assert "quickstart-hello" in private and "quickstart-hello" not in shared
        assert "quickstart-hello-team" in shared and "quickstart-hello-team" not in private
        # the same name is a new version each time: twice per Run All
        assert len(version_names(nb_stack, private["quickstart-hello"])) == 2 * rounds
        if has_run_cells(nb):
            runs = runs_of(nb_stack)
            assert len(runs) == 2 * rounds and {r["state"] for r in runs} == {"SUCCEEDED"}
            assert len({r["display_name"] for r in runs}) == len(runs)  # told apart
            params = [r["runtime_config"]["parameters"] for r in runs]
            assert {"name": "Ada", "times": 3} in params
            assert "Hello Ada! Hello Ada! Hello Ada!" in text  # the greet task's log


def test_02_shared_pipelines(nb_stack, tmp_path):
    skip_runs_if_unsupported("02-shared-pipelines", nb_stack)
    for rounds in (1, 2):
        nb, text = execute("02-shared-pipelines", nb_stack, tmp_path)
        private = pipelines(nb_stack, "default")
        shared = pipelines(nb_stack, None)
        assert set(shared) == {"team-normalise"}
        assert set(private) == {"my-normalise"}
        assert "with-my-label" in version_names(nb_stack, private["my-normalise"])
        # the policy cells: read-only refuses the shared upload, off hides the shared space
        assert "upload refused:" in text and "read-only" in text
        assert "policy: off | shared space: None" in text
        if has_run_cells(nb) and rounds == 1:
            assert "mean=0.583" in text  # [2, 4, 8] normalised: mean of 0.25, 0.5, 1.0
        elif has_run_cells(nb):  # the same inputs again: the step is cached, and says so
            assert "summary was cached: an earlier run with the same inputs" in text


def test_03_widgets(nb_stack, tmp_path):
    skip_runs_if_unsupported("03-widgets", nb_stack)
    for rounds in (1, 2):
        nb, text = execute("03-widgets", nb_stack, tmp_path)
        assert "widgets-train" in pipelines(nb_stack, "default")
        assert "application/vnd.jupyter.widget-view+json" in str(nb.cells)
        refusal = next(c for c in nb.cells if "form.submit() is None" in c.source)
        shown = outputs_text(nbformat.v4.new_notebook(cells=[refusal]))
        # the refusal cell keeps showing the refusal after the next cell started a run
        assert "epochs" in shown and "many" in shown and "Started run" not in shown
        if has_run_cells(nb):
            runs = runs_of(nb_stack)
            assert len(runs) == rounds and {r["state"] for r in runs} == {"SUCCEEDED"}
            assert {r["runtime_config"]["parameters"]["epochs"] for r in runs} == {4}
            assert "epoch 4: loss" in text


def test_04_on_a_cluster(nb_stack, tmp_path):
    before = (pipelines(nb_stack, "default"), pipelines(nb_stack, None), runs_of(nb_stack))
    for _ in range(2):
        _, text = execute("04-on-a-cluster", nb_stack, tmp_path)
        assert (
            "mode cluster-dspa, namespace 'team-a', identity system:serviceaccount:team-a:" in text
        )
        assert "mode cluster-kubeflow, namespace 'team-a'" in text
        assert "Kubeflow pipelines token" in text
        assert "ds-pipeline-user-access-dspa" in text
        assert "No pipeline stack found. Tried:" in text
        assert "(HTTP 401)" in text and "an-expired-token" not in text
        assert ".signature" not in text, "the (made-up) service-account token was printed"
        # managed pipelines: shared (marked managed), not the project's own
        assert "[shared, managed] platform-training" in text
        assert "managed among the project's own: []" in text
        # the archived log endpoint answers the step's log
        assert "SUCCEEDED 200 text/plain" in text and "platform says from the archive" in text
        # the simulated cluster stayed in the simulation: the user's stack is as it was
        after = (pipelines(nb_stack, "default"), pipelines(nb_stack, None), runs_of(nb_stack))
        assert after == before


def test_05_results_and_compare(nb_stack, tmp_path):
    skip_runs_if_unsupported("05-results-and-compare", nb_stack)
    for _ in range(2):
        nb, text = execute("05-results-and-compare", nb_stack, tmp_path)
        bundles = [o.get("data", {}) for c in nb.cells for o in c.get("outputs", []) if "data" in o]
        charts = [b["application/vnd.vegalite.v5+json"] for b in bundles if VEGALITE in b]
        titles = " | ".join(str(c.get("title")) for c in charts)
        assert "metrics" in titles and "confusion matrix" in titles and "ROC" in titles
        assert "results-demo" in pipelines(nb_stack, "default")
        assert "parameter 'epochs' default changed" in text  # the version diff
        # the schedule: named after pipeline and trigger, its cron as typed
        assert "results-demo · daily 06:00" in text and "cron '0 6 * * *' (UTC)" in text
        assert "Rerun of" in text
        assert "0.09999999999999998" not in text
        schedules = api(nb_stack, "/recurringruns", namespace="default").get("recurringRuns")
        assert not schedules  # the notebook removes the schedule it made
        runs = runs_of(nb_stack)
        assert {r["state"] for r in runs} == {"SUCCEEDED"}
        assert len({r["display_name"] for r in runs}) == len(runs)


def test_06_notebook_pipelines(nb_stack, tmp_path):
    skip_runs_if_unsupported("06-notebook-pipelines", nb_stack)
    for _ in range(2):
        nb, text = execute("06-notebook-pipelines", nb_stack, tmp_path)
        assert "'SUCCEEDED'" in text and "40 rows written" not in text  # rows=60 given
        assert "60 rows written" in text or "accuracy" in text
        bundles = [o.get("data", {}) for c in nb.cells for o in c.get("outputs", []) if "data" in o]
        charts = [b[VEGALITE] for b in bundles if VEGALITE in b]
        titles = " | ".join(str(c.get("title")) for c in charts)
        assert "metrics" in titles and "confusion matrix" in titles
        html = " ".join(str(b.get("text/html", "")) for b in bundles)
        assert "executed_notebook" in html and "<iframe" in html
        assert "('SUCCEEDED', 5)" in text
        assert "FAILED" in text and "the notebook failed in cell 1 ('ratio = 1 / divisor')" in text
        assert "ZeroDivisionError" in text
