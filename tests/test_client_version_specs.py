"""The kernel reads a version's inputs by id, not from a version list: through the server's
proxy (whose lists carry no specs) `%dsp run`, ``client.run`` and the RunForm still know the
pipeline's typed parameters and defaults. Real Jupyter server, real stack on loopback."""

from __future__ import annotations

import asyncio

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config
from version_specs_helpers import EXPECTED_INPUTS, add_version, create_pipeline, typed_spec

from jupyter_dsp.client import DSPClient
from jupyter_dsp.client.errors import ArgumentError
from jupyter_dsp.widgets.run_form import RunForm

pytest_plugins = ("pytest_jupyter.jupyter_server", "fixtures_cluster", "fixtures_server")


@pytest.fixture
def jp_server_config(dsp_server_config):
    return dsp_server_config


def declared(parameters: dict) -> dict[str, tuple[str, object]]:
    return {name: (p.type, p.default if p.has_default else None) for name, p in parameters.items()}


async def test_inputs_are_read_by_id_through_the_proxy(
    proxied_stack, jp_fetch, server_url, jupyter_token, tmp_path, unique_name
):
    name = unique_name("typed")
    spec = typed_spec()
    pid, _ = await asyncio.to_thread(
        create_pipeline, proxied_stack.url, proxied_stack.token, name, spec
    )
    await asyncio.to_thread(add_version, proxied_stack.url, proxied_stack.token, pid, "v2", spec)
    token_file = tmp_path / "jupyter-token"
    token_file.write_text(jupyter_token)
    endpoint = f"{server_url}dsp/api/project"
    client = DSPClient.from_endpoint(
        endpoint, token_file=str(token_file), namespace="default", shared=False
    )

    def kernel() -> dict:
        listed = client.versions(name)
        form = RunForm(client, name, watch=False)
        run = client.run(name, {"name": "abc", "count": "7"})
        try:
            client.run(name, {"nope": 1})
        except ArgumentError as exc:
            unknown = str(exc)
        config = Config()
        config.HistoryManager.enabled = False
        InteractiveShell.clear_instance()
        sh = InteractiveShell.instance(config=config)
        try:
            sh.run_line_magic("load_ext", "jupyter_dsp")
            sh.run_line_magic(
                "dsp",
                f"connect --endpoint {endpoint} --token-file {token_file} --namespace default",
            )
            magic_run = sh.run_line_magic("dsp", f"run {name} -p name=xyz -p ratio=2")
            try:
                sh.run_line_magic("dsp", f"run {name} -p count=1")
                missing = ""
            except UsageError as exc:
                missing = str(exc)
        finally:
            InteractiveShell.clear_instance()
        return {
            "listed": listed,
            "form": form,
            "run": run,
            "unknown": unknown,
            "magic_run": magic_run,
            "missing": missing,
        }

    out = await asyncio.to_thread(kernel)
    assert len(out["listed"]) == 2
    assert all(v.spec is None for v in out["listed"])  # the list carried no spec
    form = out["form"]
    assert declared(form.parameters) == EXPECTED_INPUTS
    assert form.inputs["count"].value == "3" and form.inputs["loud"].value is True
    assert out["run"].parameters == {"name": "abc", "count": 7}
    assert "Unknown parameter 'nope'" in out["unknown"] and "count" in out["unknown"]
    assert out["magic_run"].parameters == {"name": "xyz", "ratio": 2.0}
    assert "Missing required parameter 'name'" in out["missing"]
