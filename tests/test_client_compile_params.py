"""Compiling pipelines and converting parameter values (no stack needed)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import reference
import yaml
from reference import COMPILED as REFERENCE

from jupyter_dsp.client import ArgumentError, compile_source
from jupyter_dsp.client.params import check_arguments, parse_assignments, root_parameters

PIPELINE_PY = textwrap.dedent(
    """
    from kfp import dsl

    @dsl.component(base_image="python:3.11")
    def add(a: int, b: float) -> float:
        return a + b

    @dsl.pipeline(name="typed-params", description="all parameter types")
    def typed(
        req: int,
        a: int = 1,
        b: float = 2.5,
        flag: bool = False,
        items: list = [1, 2],
        cfg: dict = {"k": "v"},
        s: str = "x",
    ):
        add(a=a, b=b)
    """
)


@pytest.fixture
def pipeline_file(tmp_path: Path) -> Path:
    path = tmp_path / "typed.py"
    path.write_text(PIPELINE_PY)
    return path


def test_compile_py_file_writes_yaml_with_declared_parameters(pipeline_file: Path, tmp_path):
    out = tmp_path / "out" / "typed.yaml"
    compiled = compile_source(str(pipeline_file), out)
    assert compiled.name == "typed-params"
    assert out.is_file()
    doc = yaml.safe_load(out.read_text())
    assert doc["pipelineInfo"]["name"] == "typed-params"
    params = compiled.parameters
    assert params["req"].required and not params["a"].required
    assert params["a"].default == 1 and isinstance(params["a"].default, int)
    assert {p.type for p in params.values()} >= {"NUMBER_INTEGER", "NUMBER_DOUBLE", "BOOLEAN"}
    assert "typed-params" in compiled._repr_html_()


def test_compiled_yaml_loads_back_identically(pipeline_file: Path, tmp_path):
    first = compile_source(str(pipeline_file), tmp_path / "a.yaml")
    again = compile_source(str(tmp_path / "a.yaml"))
    assert again.spec == first.spec


def test_py_file_with_named_function(pipeline_file: Path):
    assert compile_source(f"{pipeline_file}:typed").name == "typed-params"
    with pytest.raises(ArgumentError, match="no pipeline 'nope'"):
        compile_source(f"{pipeline_file}:nope")


@reference.needed
@pytest.mark.parametrize(
    "name, fragment",
    [
        ("invalid/empty_file.yaml", "empty"),
        ("invalid/no_name.yaml", "pipelineInfo.name"),
        ("invalid/invalid_yaml.yaml", "components_1"),
    ],
)
def test_invalid_reference_files_are_refused_clearly(name: str, fragment: str):
    with pytest.raises(ArgumentError, match=fragment):
        compile_source(str(REFERENCE / name))


def test_missing_file_and_unknown_kind():
    with pytest.raises(ArgumentError, match="No such file"):
        compile_source("does/not/exist.yaml")
    with pytest.raises(ArgumentError, match="give a pipeline function"):
        compile_source("notes.txt")
    with pytest.raises(ArgumentError):
        compile_source(42)


@reference.needed
def test_every_valid_reference_pipeline_loads():
    files = sorted((REFERENCE / "valid").rglob("*.yaml"))
    assert files
    for path in files:
        assert compile_source(str(path)).name, path


def _params(pipeline_file: Path):
    return compile_source(str(pipeline_file)).parameters


def test_values_are_converted_to_declared_types(pipeline_file: Path):
    values = check_arguments(
        _params(pipeline_file),
        {
            "req": "4",
            "a": "-3",
            "b": "1e-3",
            "flag": "TRUE",
            "items": '["x", 2]',
            "cfg": '{"n": {"m": 1}}',
            "s": "with = sign",
        },
    )
    assert values == {
        "req": 4,
        "a": -3,
        "b": 0.001,
        "flag": True,
        "items": ["x", 2],
        "cfg": {"n": {"m": 1}},
        "s": "with = sign",
    }


@pytest.mark.parametrize(
    "args, name",
    [
        ({"req": "4", "a": "1.5"}, "a"),
        ({"req": "four"}, "req"),
        ({"req": "1", "b": "abc"}, "b"),
        ({"req": "1", "b": "inf"}, "b"),
        ({"req": "1", "flag": "maybe"}, "flag"),
        ({"req": "1", "items": '{"a": 1}'}, "items"),
        ({"req": "1", "cfg": "[1]"}, "cfg"),
        ({"req": "1", "cfg": "{bad json"}, "cfg"),
        ({"req": True}, "req"),
        ({"req": "1", "nope": "1"}, "nope"),
        ({}, "req"),
    ],
)
def test_wrong_values_name_the_parameter(pipeline_file: Path, args, name):
    with pytest.raises(ArgumentError) as info:
        check_arguments(_params(pipeline_file), args)
    assert info.value.parameter == name
    assert repr(name) in str(info.value)


def test_assignments_split_on_first_equals():
    assert parse_assignments(["a=1", "b=x=y", "c="]) == {"a": "1", "b": "x=y", "c": ""}
    with pytest.raises(ArgumentError, match="NAME=VALUE"):
        parse_assignments(["novalue"])
    with pytest.raises(ArgumentError):
        parse_assignments(["=1"])


def test_root_parameters_of_a_wrapped_spec():
    spec = {
        "root": {"inputDefinitions": {"parameters": {"n": {"parameterType": "NUMBER_INTEGER"}}}}
    }
    assert root_parameters({"pipeline_spec": spec, "platform_spec": {}})["n"].required
