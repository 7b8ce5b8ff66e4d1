"""DSPClient against a real embedded stack: upload, versions, spaces, fork, delete, errors."""

from __future__ import annotations

import pytest
from kernel_helpers import client_for, write_pipeline

from jupyter_dsp.client import ArgumentError, DSPClient, DSPError, NotFoundError


@pytest.fixture
def client(stack) -> DSPClient:
    return client_for(stack)


def test_upload_private_then_new_version_on_reupload(client, tmp_path, unique_name):
    name = unique_name("priv")
    source = write_pipeline(tmp_path, name)
    first = client.upload(str(source))
    assert first.space == "project" and first.pipeline.name == name
    assert set(first.parameters) == {"a", "b", "label", "flags"}

    second = client.upload(str(source), version="v2", description="second")
    assert second.pipeline_id == first.pipeline_id
    assert second.name == "v2" and second.id != first.id

    found = client.find_pipeline(name)
    assert [v.name for v in found.versions] == ["v2", first.name]
    assert found.namespace == "default"

    listed = client.list_pipelines("project").by_name(name)
    assert listed is not None and len(listed.versions) == 2
    assert client.list_pipelines("shared").by_name(name) is None


def test_upload_shared_is_listed_in_shared_only(client, tmp_path, unique_name):
    name = unique_name("shared")
    version = client.upload(str(write_pipeline(tmp_path, name)), shared=True)
    assert version.space == "shared"
    assert version.pipeline.namespace == ""
    assert client.list_pipelines("shared").by_name(name) is not None
    assert client.list_pipelines("project").by_name(name) is None
    both = client.list_pipelines("all")
    assert [p.space for p in both if p.name == name] == ["shared"]


def test_new_pipeline_with_explicit_version_name(client, tmp_path, unique_name):
    name = unique_name("named")
    version = client.upload(str(write_pipeline(tmp_path, name)), version="first")
    assert version.name == "first"
    assert [v.name for v in client.versions(name)] == ["first"]


def test_fork_copies_a_shared_version_into_the_project(client, tmp_path, unique_name):
    name = unique_name("tofork")
    shared = client.upload(str(write_pipeline(tmp_path, name)), shared=True)
    fork = client.fork(name, as_name=f"{name}-mine")
    assert fork.space == "project"
    assert fork.pipeline.name == f"{name}-mine"
    assert fork.pipeline_id != shared.pipeline_id
    assert fork.parameters.keys() == shared.parameters.keys()
    assert "Forked from shared pipeline" in (fork.pipeline.description or fork.description)
    # forking again adds a version to the private copy
    again = client.fork(name, as_name=f"{name}-mine")
    assert again.pipeline_id == fork.pipeline_id and again.id != fork.id
    assert client.list_pipelines("shared").by_name(f"{name}-mine") is None


def test_fork_unknown_shared_pipeline_is_not_found(client, unique_name):
    with pytest.raises(NotFoundError, match="No pipeline named"):
        client.fork(unique_name("missing"))


def test_delete_pipeline_with_its_versions(client, tmp_path, unique_name):
    name = unique_name("gone")
    source = str(write_pipeline(tmp_path, name))
    client.upload(source)
    client.upload(source)
    client.delete_pipeline(name)
    with pytest.raises(NotFoundError):
        client.find_pipeline(name, "project")


def test_read_only_shared_space_refuses_uploads(stack, tmp_path, unique_name):
    client = client_for(stack, shared_writable=False)
    with pytest.raises(DSPError, match="read-only"):
        client.upload(str(write_pipeline(tmp_path, unique_name("ro"))), shared=True)


def test_bad_file_is_an_argument_error_before_any_request(client, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("pipelineInfo: {name: x}\nroot: {dag: {}}\ncomponents_1: {}\n")
    with pytest.raises(ArgumentError, match="not a valid KFP pipeline spec"):
        client.upload(str(bad))


def test_wrong_token_gives_one_line_with_what_to_do(stack):
    client = DSPClient.from_endpoint(stack.url, "not-a-token", namespace="default")
    with pytest.raises(DSPError) as info:
        client.list_pipelines("project")
    assert info.value.status == 401
    assert "%dsp connect" in str(info.value)
    assert info.value._render_traceback_() == [f"DSPError: {info.value}"]


def test_unreachable_stack_says_so(tmp_path):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = DSPClient.from_endpoint(f"http://127.0.0.1:{port}", "t", namespace="default")
    with pytest.raises(DSPError, match="cannot reach"):
        client.list_pipelines("project")
    info = client.info()
    assert info.healthy is False and "cannot reach" in (info.error or "")


def test_token_never_in_reprs_or_info(stack, client):
    info = client.info()
    assert info.healthy
    texts = [
        repr(client),
        repr(client.project),
        repr(client.shared),
        info._text(),
        info._repr_html_(),
    ]
    for text in texts:
        assert stack.token not in text


def test_kfp_clients_are_ready_for_unwrapped_calls(client, tmp_path, unique_name):
    name = unique_name("raw")
    client.upload(str(write_pipeline(tmp_path, name)))
    response = client.kfp.list_pipelines(namespace="default", page_size=200)
    assert name in [p.display_name for p in response.pipelines or []]
    assert client.kfp_shared is not None


def test_pipelines_by_id_and_a_named_shared_version(client, tmp_path, unique_name):
    name = unique_name("byid")
    source = str(write_pipeline(tmp_path, name))
    first = client.upload(source, shared=True, version="one")
    client.upload(source, shared=True, version="two")
    found = client.find_pipeline(first.pipeline_id)
    assert found.name == name and found.space == "shared"
    assert [v.name for v in client.versions(first.pipeline_id)] == ["two", "one"]
    fork = client.fork(name, version="one", as_name=f"{name}-one")
    assert fork.pipeline.description.endswith("version 'one'.")
    with pytest.raises(NotFoundError, match="no version 'three'"):
        client.fork(name, version="three")
