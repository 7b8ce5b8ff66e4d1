"""%dsp in a real IPython shell against a real embedded stack: compile, upload, list, fork."""

from __future__ import annotations

import pytest
import yaml
from IPython.core.error import UsageError
from kernel_helpers import pipeline_source
from kernel_shell import run_cell

from jupyter_dsp.client import CompiledPipeline, PipelineVersion, ResultList

SUBCOMMANDS = (
    "info connect compile upload list versions fork run runs show wait logs terminate retry browse"
)


def define(sh, name: str) -> None:
    """Define the pipeline in the shell like a notebook cell would."""
    run_cell(sh, pipeline_source(name))


def test_help_documents_every_subcommand(shell, capsys):
    doc = shell.find_line_magic("dsp").__doc__
    for command in SUBCOMMANDS.split():
        assert f"%dsp {command}" in doc, command
    assert "-p KEY=VALUE" in doc and "--shared" in doc
    assert shell.run_line_magic("dsp", "run --help") is None
    assert "--experiment" in capsys.readouterr().out


def test_compile_a_pipeline_defined_in_the_shell(shell, tmp_path, unique_name):
    name = unique_name("cell")
    define(shell, name)
    compiled = shell.run_line_magic("dsp", "compile pipeline -o out/p.yaml")
    assert isinstance(compiled, CompiledPipeline)
    assert compiled.name == name
    doc = yaml.safe_load((tmp_path / "out" / "p.yaml").read_text())
    assert doc["pipelineInfo"]["name"] == name
    assert set(doc["root"]["inputDefinitions"]["parameters"]) == {"a", "b", "label", "flags"}
    # the returned object is usable from the next cell
    shell.user_ns["compiled"] = compiled
    assert run_cell(shell, "compiled.parameters['a'].required") is True


def test_upload_private_shared_list_and_new_version(shell, unique_name):
    name = unique_name("magic")
    define(shell, name)
    first = shell.run_line_magic("dsp", "upload pipeline")
    assert isinstance(first, PipelineVersion) and first.space == "project"
    second = shell.run_line_magic("dsp", "upload pipeline --version v2 --description again")
    assert second.pipeline_id == first.pipeline_id and second.name == "v2"

    shared = shell.run_line_magic("dsp", f"upload pipeline --shared --name {name}-pub")
    assert shared.space == "shared" and shared.pipeline.name == f"{name}-pub"

    project = shell.run_line_magic("dsp", "list --project")
    assert isinstance(project, ResultList)
    assert project.by_name(name) is not None and project.by_name(f"{name}-pub") is None
    public = shell.run_line_magic("dsp", "list --shared")
    assert public.by_name(f"{name}-pub") is not None and public.by_name(name) is None
    both = shell.run_line_magic("dsp", "list")
    assert {p.space for p in both if p.name in (name, f"{name}-pub")} == {"project", "shared"}

    versions = shell.run_line_magic("dsp", f"versions {name}")
    assert [v.name for v in versions] == ["v2", first.name]
    assert "v2" in versions._repr_html_() and "v2" in versions._text()


def test_upload_yaml_and_py_files(shell, tmp_path, unique_name):
    name = unique_name("files")
    (tmp_path / "p.py").write_text(pipeline_source(name))
    from_py = shell.run_line_magic("dsp", "upload p.py")
    shell.run_line_magic("dsp", "compile p.py:pipeline -o p.yaml")
    from_yaml = shell.run_line_magic("dsp", "upload p.yaml --version from-yaml")
    assert from_yaml.pipeline_id == from_py.pipeline_id


def test_fork_a_shared_pipeline(shell, unique_name):
    name = unique_name("share")
    define(shell, name)
    shell.run_line_magic("dsp", "upload pipeline --shared")
    fork = shell.run_line_magic("dsp", f"fork {name} --as {name}-copy")
    assert fork.space == "project" and fork.pipeline.name == f"{name}-copy"
    project = shell.run_line_magic("dsp", "list --project")
    assert project.by_name(f"{name}-copy") is not None


def test_info_never_shows_the_token(shell, stack, capsys):
    info = shell.run_line_magic("dsp", "info")
    assert info.healthy and info.namespace == "default"
    shell.run_cell("%dsp info")
    out = capsys.readouterr().out
    assert "default" in out and stack.token not in out
    assert stack.token not in info._repr_html_()


@pytest.mark.parametrize(
    "line, fragment",
    [
        ("", None),
        ("bogus", "Unknown command 'bogus'"),
        ("run", "required: PIPELINE"),
        ("upload", "required"),
        ("upload missing.yaml", "No such file"),
        ("upload not_a_pipeline", "not a @dsl.pipeline"),
        ("upload nothing_here", "neither a pipeline function"),
        ("compile 'unclosed", "quotes"),
        ("compile pipeline --bogus", "unrecognized arguments"),
        ("list --shared --project", "not allowed with"),
        ("runs --limit 0", "at least 1"),
        ("runs --state sleeping", "not a run state"),
        ("run pipeline --wait --watch", "not allowed with"),
        ("run pipeline --timeout 5", "--timeout goes with --wait"),
        ("run pipeline -p a", "NAME=VALUE"),
        ("run pipeline -p a=1.5", "'a' expects int"),
        ("run pipeline -p a=1 -p flags=notjson", "'flags' expects JSON list"),
        ("run pipeline -p a=1 -p zzz=1", "Unknown parameter 'zzz'"),
        ("run pipeline", "Missing required parameter 'a'"),
        ("versions no-such-pipeline-xyz", "No pipeline named"),
        ("fork no-such-pipeline-xyz", "No pipeline named"),
        ("run no-such-pipeline-xyz", "No pipeline named"),
        ("connect --token-file x", "need --endpoint"),
    ],
)
def test_bad_usage_is_a_usage_error(shell, unique_name, line, fragment):
    define(shell, unique_name("usage"))
    shell.user_ns["not_a_pipeline"] = 42
    if fragment is None:  # an empty line prints the summary
        assert shell.run_line_magic("dsp", line) is None
        return
    with pytest.raises(UsageError) as info:
        shell.run_line_magic("dsp", line)
    assert fragment in str(info.value)


def test_bad_yaml_file_upload_is_a_usage_error(shell, tmp_path):
    # as KFP's invalid/invalid_yaml.yaml: YAML, but "components_1" is no field of a pipeline spec
    bad = tmp_path / "invalid_yaml.yaml"
    bad.write_text(
        "components_1:\n  comp-echo:\n    executorLabel: exec-echo\n"
        "pipelineInfo:\n  name: echo\n"
        "root:\n  dag:\n    tasks:\n      echo:\n        componentRef:\n          name: comp-echo\n"
        "schemaVersion: 2.1.0\nsdkVersion: kfp-2.14.6\n"
    )
    with pytest.raises(UsageError, match="not a valid KFP pipeline spec"):
        shell.run_line_magic("dsp", f"upload {bad}")


def test_stack_errors_show_as_one_line(shell, capsys):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    shell.run_line_magic("dsp", f"connect --endpoint http://127.0.0.1:{port} --namespace default")
    shell.run_cell("%dsp list")
    out = capsys.readouterr()
    text = out.out + out.err
    assert "DSPError:" in text and "cannot reach" in text
    assert "Traceback" not in text


def test_results_render_as_html_and_plain_text(shell, unique_name):
    name = unique_name("render")
    define(shell, name)
    version = shell.run_line_magic("dsp", "upload pipeline")
    listed = shell.run_line_magic("dsp", "list --project")
    for obj, needle in ((version, name), (listed, name)):
        formatted, _ = shell.display_formatter.format(obj)
        assert needle in formatted["text/plain"]
        assert "<" in formatted["text/html"] and needle in formatted["text/html"]
        assert "object at 0x" not in formatted["text/plain"]


def test_compile_saves_the_spec_of_a_pipeline_on_the_stack(shell, tmp_path, unique_name):
    name = unique_name("saved")
    define(shell, name)
    shell.user_ns["v"] = shell.run_line_magic("dsp", "upload pipeline")
    by_name = shell.run_line_magic("dsp", f"compile {name} -o saved.yaml")
    assert by_name.name == name and (tmp_path / "saved.yaml").is_file()
    by_object = shell.run_line_magic("dsp", "compile v")
    assert by_object.spec["root"] == by_name.spec["root"]


def test_browse_returns_the_browser_widget(shell, unique_name):
    from jupyter_dsp.widgets import PipelineBrowser

    name = unique_name("browse")
    define(shell, name)
    shell.run_line_magic("dsp", "upload pipeline")
    browser = shell.run_line_magic("dsp", "browse")
    assert isinstance(browser, PipelineBrowser)
    assert name in browser.names("project")
    assert "pipeline" in [value for _, value in browser.upload_source.options]


def test_magic_settings_are_configurable(shell):
    shell.run_line_magic("config", "DSPMagic.default_experiment = 'nightly'")
    shell.run_line_magic("config", "DSPMagic.poll_interval = 0.25")
    magic = shell.magics_manager.registry["DSPMagic"]
    assert magic.default_experiment == "nightly"
    assert magic.client.default_experiment == "nightly"
    assert magic.client.poll_interval == 0.25


def test_compile_works_offline_without_connecting(tmp_path, monkeypatch, unique_name):
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    import jupyter_dsp.magics.dsp_magic as dsp_magic

    def no_connection(*args, **kwargs):
        raise AssertionError("compile must not connect to a stack")

    monkeypatch.setattr(dsp_magic, "connect", no_connection)
    monkeypatch.chdir(tmp_path)
    config = Config()
    config.HistoryManager.enabled = False
    InteractiveShell.clear_instance()
    sh = InteractiveShell.instance(config=config)
    try:
        sh.run_line_magic("load_ext", "jupyter_dsp")
        name = unique_name("offline")
        define(sh, name)
        compiled = sh.run_line_magic("dsp", "compile pipeline -o offline.yaml")
        assert compiled.name == name and (tmp_path / "offline.yaml").is_file()
    finally:
        InteractiveShell.clear_instance()
