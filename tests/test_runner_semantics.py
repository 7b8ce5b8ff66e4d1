"""The engine's reading of compiled specs: conditions, placeholders, inputs, executor input.

Plain functions (no process started): the CEL subset the compiler emits, the placeholders a
container component's command may hold (f-strings, Concat, IfPresent, metadata fields), and
the ExecutorInput a step gets.
"""

import json
from pathlib import Path

import pytest

from jupyter_dsp.stack.runner import executor_input
from jupyter_dsp.stack.runner.conditions import ConditionError, evaluate
from jupyter_dsp.stack.runner.inputs import InputError, select
from jupyter_dsp.stack.runner.placeholders import (
    PlaceholderContext,
    PlaceholderError,
    resolve_command,
)

P = "inputs.parameter_values"


@pytest.mark.parametrize(
    ("condition", "values", "expected"),
    [
        (f"{P}['c'] == 'heads'", {"c": "heads"}, True),
        (f"!({P}['c'] == 'heads')", {"c": "heads"}, False),
        (f"int({P}['n']) < 5000", {"n": "4999"}, True),
        (f"!(int({P}['n']) < 5000) && int({P}['n']) > 5000", {"n": 5001}, True),
        (f"!(int({P}['n']) < 5000) && !(int({P}['n']) > 5000)", {"n": 5000.0}, True),
        (f"{P}['b'] == true", {"b": True}, True),
        (f"{P}['a'] == {P}['b']", {"a": "x", "b": "y"}, False),
        (f"{P}['s'] != 'no-such-result' || false", {"s": "heads"}, True),
        (f"int({P}['t']) >= int({P}['u'])", {"t": 3, "u": 2.0}, True),
        (f"double({P}['x']) > 1.5", {"x": "1.75"}, True),
        ("", {}, True),
    ],
)
def test_conditions(condition: str, values: dict, expected: bool) -> None:
    assert evaluate(condition, values) is expected


@pytest.mark.parametrize(
    "condition",
    [f"{P}['missing'] == 'x'", f"{P}['c'] ==", "__import__('os')", f"{P}['c']"],
)
def test_bad_conditions_are_clear_errors(condition: str) -> None:
    with pytest.raises(ConditionError):
        evaluate(condition, {"c": "heads"})


def _ctx() -> PlaceholderContext:
    ei = {
        "inputs": {
            "parameterValues": {"msg": "hi", "n": 3, "flag": True, "items": [1, 2]},
            "artifacts": {
                "data": {
                    "artifacts": [
                        {"uri": "/r/a/data", "metadata": {"rows": 5}, "type": {"schemaTitle": "s"}}
                    ]
                }
            },
        },
        "outputs": {
            "parameters": {"out": {"outputFile": "/r/o/out"}},
            "artifacts": {"model": {"artifacts": [{"uri": "/r/o/model", "metadata": {}}]}},
            "outputFile": "/r/o/executor_output.json",
        },
    }
    return PlaceholderContext(ei, {"pipeline_job_name": "job-1", "pipeline_task_name": "t"})


def test_placeholders_in_strings_concat_and_if_present() -> None:
    ctx = _ctx()
    command = [
        "echo",
        "--msg={{$.inputs.parameters['msg']}} n={{$.inputs.parameters['n']}}",
        "{{$.inputs.artifacts['data'].path}}",
        "{{$.inputs.artifacts['data'].metadata['rows']}}",
        "{{$.outputs.parameters['out'].output_file}}",
        "{{$.outputs.artifacts['model'].uri}}",
        '{"Concat": ["a-", "{{$.inputs.parameters[\'flag\']}}", "-b"]}',
        '{"IfPresent": {"InputName": "msg", "Then": ["--m", "{{$.inputs.parameters[\'msg\']}}"]}}',
        '{"IfPresent": {"InputName": "absent", "Then": ["--x"], "Else": ["--none"]}}',
        '{"IfPresent": {"InputName": "absent", "Then": ["--x"]}}',
        "{{$.pipeline_job_name}}/{{$.pipeline_task_name}}",
        "{{$.inputs.parameters['items']}}",
    ]
    assert resolve_command(command, ctx) == [
        "echo",
        "--msg=hi n=3",
        "/r/a/data",
        "5",
        "/r/o/out",
        "/r/o/model",
        "a-true-b",
        "--m",
        "hi",
        "--none",
        "job-1/t",
        "[1,2]",
    ]
    assert json.loads(resolve_command(["{{$}}"], ctx)[0]) == ctx.executor_input


def test_unknown_placeholder_is_named() -> None:
    with pytest.raises(PlaceholderError, match="no_such"):
        resolve_command(["{{$.no_such}}"], _ctx())
    with pytest.raises(PlaceholderError, match="'nope'"):
        resolve_command(["{{$.inputs.parameters['nope']}}"], _ctx())


def test_expression_selector() -> None:
    assert select('{"A_a": "heads", "B_b": 2}', 'parseJson(string_value)["A_a"]') == "heads"
    assert select({"a": 1}, 'parseJson(string_value)["a"]') == 1
    with pytest.raises(InputError):
        select({"a": 1}, 'parseJson(string_value)["b"]')


def test_executor_input_and_outputs(tmp_path: Path) -> None:
    component = {
        "inputDefinitions": {
            "parameters": {
                "n": {"parameterType": "NUMBER_INTEGER"},
                "xs": {"parameterType": "LIST"},
            }
        },
        "outputDefinitions": {
            "parameters": {
                "Output": {"parameterType": "NUMBER_DOUBLE"},
                "flag": {"parameterType": "BOOLEAN"},
            },
            "artifacts": {
                "model": {"artifactType": {"schemaTitle": "system.Model", "schemaVersion": "0.0.1"}}
            },
        },
    }
    ei = executor_input.build(component, {"n": 4.0, "xs": [1.0, 2.5]}, {}, tmp_path)
    assert ei["inputs"]["parameterValues"] == {"n": 4, "xs": [1, 2.5]}
    assert isinstance(ei["inputs"]["parameterValues"]["n"], int)
    model = ei["outputs"]["artifacts"]["model"]["artifacts"][0]
    assert (
        model["uri"] == str(tmp_path / "model") and model["type"]["schemaTitle"] == "system.Model"
    )
    # a Python step reports through the executor output, a container step through files
    Path(ei["outputs"]["outputFile"]).write_text(
        json.dumps(
            {
                "parameterValues": {"Output": 2.5},
                "artifacts": {
                    "model": {"artifacts": [{"name": "model", "metadata": {"acc": 0.9}}]}
                },
            }
        )
    )
    flag_file = Path(ei["outputs"]["parameters"]["flag"]["outputFile"])
    flag_file.parent.mkdir(parents=True, exist_ok=True)
    flag_file.write_text("true")
    params, artifacts = executor_input.read_outputs(component, ei)
    assert params == {"Output": 2.5, "flag": True}
    assert artifacts["model"][0]["metadata"] == {"acc": 0.9}
    assert artifacts["model"][0]["uri"] == str(tmp_path / "model")
    flag_file.unlink()
    Path(ei["outputs"]["outputFile"]).write_text("{}")
    with pytest.raises(ValueError, match="'Output'"):
        executor_input.read_outputs(component, ei)
