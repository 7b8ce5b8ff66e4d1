"""Version diff: the pure comparison (common/spec_diff.py) on specs the KFP compiler makes,
and ``GET {base}dsp/diff`` through a real Jupyter server and embedded stack."""

import asyncio
import copy
import json
from pathlib import Path

import kfp
import pytest
import yaml
from kfp import compiler, dsl
from tornado.httpclient import AsyncHTTPClient, HTTPClientError

from jupyter_dsp.common.spec_diff import diff_specs

pytest_plugins = ("pytest_jupyter.jupyter_server", "fixtures_cluster", "fixtures_server")


@dsl.component(base_image="python:3.11")
def add(a: int, b: int) -> int:
    return a + b


@dsl.component(base_image="python:3.11")
def add_v2(a: int, b: int) -> int:
    print("the second version")
    return a + b


@dsl.component(base_image="python:3.12")
def report(total: int) -> str:
    return f"total {total}"


@dsl.component(base_image="python:3.11")
def square(x: int) -> int:
    return x * x


@dsl.pipeline(name="calc")
def calc_v1(a: int, b: int = 10, unused: str = "x") -> None:
    total = add(a=a, b=b)
    report(total=total.output)


@dsl.pipeline(name="calc")
def calc_v2(a: int, b: int = 20, mode: str = "fast") -> None:
    total = add_v2(a=a, b=b).set_display_name("add")
    report(total=total.output)
    square(x=total.output)


def compiled(pipeline, tmp_path: Path, name: str) -> dict:
    path = tmp_path / f"{name}.yaml"
    compiler.Compiler().compile(pipeline, str(path))
    return yaml.safe_load(path.read_text())


def rename_component(spec: dict, old: str, new: str) -> dict:
    """add_v2 compiles as comp-add-v2; give it add's names so it is 'the same component'."""
    text = json.dumps(spec).replace(old, new)
    return json.loads(text)


@pytest.fixture
def specs(tmp_path):
    v1 = compiled(calc_v1, tmp_path, "v1")
    v2 = compiled(calc_v2, tmp_path, "v2")
    v2 = rename_component(v2, "add-v2", "add")
    v2 = json.loads(json.dumps(v2).replace('"add_v2"', '"add"').replace("def add_v2(", "def add("))
    return v1, v2


def test_diff_names_defaults_parameters_components_code_and_dag(specs):
    v1, v2 = specs
    result = diff_specs(v1, v2)
    assert result["changed"]
    summary = result["summary"]
    assert "parameter 'b' default changed: 10 -> 20" in summary
    assert "parameter 'mode' added (str, default 'fast')" in summary
    assert "parameter 'unused' removed" in summary
    assert "component 'square' added" in summary
    assert "component 'add' code changed" in summary
    assert not any("report" in line for line in summary)  # same code, same image
    assert not any("comp-" in line for line in summary)  # display names, not KFP's keys
    changed = {c["name"]: c for c in result["components"]["changed"]}
    assert '+    print("the second version")' in changed["comp-add"]["code_diff"]
    assert "pip install" not in changed["comp-add"]["code_diff"]
    new_nodes = {n["id"]: n["status"] for n in result["dag"]["new"]["nodes"]}
    old_nodes = {n["id"]: n["status"] for n in result["dag"]["old"]["nodes"]}
    assert new_nodes == {"add": "changed", "report": "same", "square": "added"}
    assert old_nodes == {"add": "changed", "report": "same"}
    assert ["add", "square"] in result["dag"]["new"]["edges"]
    assert ["add", "report"] in result["dag"]["old"]["edges"]


def test_image_change_and_sdk_preamble(specs):
    v1, _ = specs
    other = copy.deepcopy(v1)
    executor = other["deploymentSpec"]["executors"]["exec-report"]["container"]
    executor["image"] = "python:3.13"
    # recompiled by another kfp: only the pip-install preamble differs -> not a code change
    for container in (e["container"] for e in other["deploymentSpec"]["executors"].values()):
        container["command"] = [c.replace("kfp==", "kfp==9.9.9;") for c in container["command"]]
    result = diff_specs(v1, other)
    assert result["summary"] == ["component 'report' image changed: python:3.12 -> python:3.13"]
    assert {n["id"]: n["status"] for n in result["dag"]["new"]["nodes"]}["report"] == "changed"
    same = diff_specs(v1, copy.deepcopy(v1))
    assert not same["changed"] and same["summary"] == []
    # the API's {"pipeline_spec": ..., "platform_spec": ...} form is read too
    wrapped = diff_specs({"pipeline_spec": v1, "platform_spec": {}}, other)
    assert wrapped["summary"] == result["summary"]


def test_types_in_plain_words_tidy_floats_and_task_display_names(specs):
    v1, _ = specs
    other = copy.deepcopy(v1)
    b = other["root"]["inputDefinitions"]["parameters"]["b"]
    b.update(parameterType="NUMBER_DOUBLE", defaultValue=0.3 - 0.2)  # 0.09999999999999998
    # a task shown under another name than its component's: the diff uses the task's name
    other["root"]["dag"]["tasks"]["report"]["taskInfo"]["name"] = "final report"
    other["deploymentSpec"]["executors"]["exec-report"]["container"]["image"] = "python:3.13"
    result = diff_specs(v1, other)
    assert "parameter 'b' type changed: int -> float" in result["summary"]
    assert "parameter 'b' default changed: 10 -> 0.1" in result["summary"]
    assert "component 'final report' image changed: python:3.12 -> python:3.13" in result["summary"]
    (change,) = result["parameters"]["changed"]
    assert (change["old_type"], change["new_type"]) == ("NUMBER_INTEGER", "NUMBER_DOUBLE")
    assert (change["old_type_label"], change["new_type_label"]) == ("int", "float")
    assert not any("NUMBER_" in line or "comp-" in line for line in result["summary"])


# ---- GET dsp/diff through the Jupyter server ------------------------------------------------


@pytest.fixture
def jp_server_config(dsp_server_config):
    return dsp_server_config


async def test_diff_endpoint(
    proxied_stack, jp_fetch, server_url, jupyter_token, tmp_path, specs, unique_name
):
    v1, v2 = specs
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(v1))
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(v2))
    stack = kfp.Client(host=proxied_stack.url, existing_token=proxied_stack.token)

    def upload() -> tuple[str, str, str, str]:
        p = stack.upload_pipeline(str(tmp_path / "a.yaml"), pipeline_name=unique_name("calc"))
        b = stack.upload_pipeline_version(
            str(tmp_path / "b.yaml"), pipeline_version_name="v2", pipeline_id=p.pipeline_id
        )
        first = [
            v.pipeline_version_id
            for v in stack.list_pipeline_versions(p.pipeline_id).pipeline_versions
            if v.pipeline_version_id != b.pipeline_version_id
        ][0]
        single = stack.upload_pipeline(str(tmp_path / "a.yaml"), pipeline_name=unique_name("one"))
        return p.pipeline_id, first, b.pipeline_version_id, single.pipeline_id

    pid, first, second, single = await asyncio.to_thread(upload)
    got = json.loads((await jp_fetch("dsp", "diff", params={"pipeline_id": pid})).body)
    assert got["old"]["pipeline_version_id"] == first
    assert got["new"]["pipeline_version_id"] == second
    assert "parameter 'b' default changed: 10 -> 20" in got["summary"]
    # the panel reads the same words: types in plain words, components by their task's name
    (b_change,) = got["parameters"]["changed"]
    assert (b_change["old_type_label"], b_change["new_type_label"]) == ("int", "int")
    assert {c["label"] for c in got["components"]["changed"]} == {"add"}
    assert "component 'square' added" in got["summary"]
    assert "component 'add' code changed" in got["summary"]
    explicit = await jp_fetch("dsp", "diff", params={"pipeline_id": pid, "v1": second, "v2": first})
    reverse = json.loads(explicit.body)
    assert "component 'square' removed" in reverse["summary"]
    assert proxied_stack.token not in explicit.body.decode()

    broad = proxied_stack.create_token("nb", {"default": "edit", "other": "edit"}, "edit")
    theirs = kfp.Client(host=proxied_stack.url, existing_token=broad)
    other = await asyncio.to_thread(
        lambda: (
            theirs.upload_pipeline(
                str(tmp_path / "a.yaml"), pipeline_name=unique_name("x"), namespace="other"
            ).pipeline_id
        )
    )
    proxied_stack.token_file.write_text(broad)
    for params, status in [
        ({}, 400),
        ({"pipeline_id": pid, "v1": first}, 400),
        ({"pipeline_id": single}, 400),
        ({"pipeline_id": pid, "v1": first, "v2": "0" * 36}, 404),
        ({"pipeline_id": "no-such-pipeline"}, 404),
        ({"pipeline_id": other}, 403),
        ({"pipeline_id": pid, "space": "elsewhere"}, 400),
    ]:
        with pytest.raises(HTTPClientError) as err:
            await jp_fetch("dsp", "diff", params=params)
        assert err.value.code == status, (params, err.value.response.body)
        assert json.loads(err.value.response.body)["message"]
    twice = await AsyncHTTPClient().fetch(
        f"{server_url}dsp/diff?pipeline_id={pid}&pipeline_id={pid}",
        headers={"Authorization": f"token {jupyter_token}"},
        raise_error=False,
    )
    assert twice.code == 400 and "once" in json.loads(twice.body)["message"]
    anonymous = await AsyncHTTPClient().fetch(
        f"{server_url}dsp/diff?pipeline_id={pid}", raise_error=False
    )
    assert anonymous.code == 403
