"""The widgets in a real ipykernel (nbclient, no browser): `--watch` and `browse` display
ipywidgets, and the monitor polls from its thread inside the kernel until the run ends."""

from __future__ import annotations

import os

import nbformat
from kernel_helpers import pipeline_source
from nbclient import NotebookClient

WIDGET = "application/vnd.jupyter.widget-view+json"


def test_watch_and_browse_in_a_kernel(stack, tmp_path, unique_name):
    name = unique_name("kernel")
    cells = [
        "%load_ext jupyter_dsp",
        pipeline_source(name),
        "%dsp upload pipeline",
        "monitor = %dsp run pipeline -p a=2 --watch\nmonitor",
        "final = monitor.wait(240)\n"
        "print(final.state, monitor.polling, monitor.progress.value, monitor.progress.max)",
        "%dsp browse",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER_DSP_", "KF_"))}
    env.update(
        JUPYTER_DSP_ENDPOINT=stack.url,
        JUPYTER_DSP_TOKEN_FILE=str(stack.data_dir / "token"),
        JUPYTER_DSP_NAMESPACE="default",
        JUPYTER_DSP_SA_DIR=str(tmp_path / "no-sa"),
        JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
        PYDEVD_DISABLE_FILE_VALIDATION="1",
    )
    client = NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute(env=env)

    def outputs(index: int) -> list[dict]:
        return nb.cells[index].outputs

    watch = [o for o in outputs(3) if WIDGET in o.get("data", {})]
    assert watch, outputs(3)
    printed = "".join(o.get("text", "") for o in outputs(4))
    assert printed.split() == ["SUCCEEDED", "False", "2", "2"], printed
    assert any(WIDGET in o.get("data", {}) for o in outputs(5))
    everything = str([c.outputs for c in nb.cells])
    assert stack.token not in everything
    assert "Traceback" not in everything and "Error" not in everything
