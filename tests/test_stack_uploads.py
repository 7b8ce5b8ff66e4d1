"""Uploads: every reference pipeline, every format, every refusal, size limit, races."""

from __future__ import annotations

import io
import json
import tarfile
import threading
import zipfile

import pytest
import reference
import yaml
from stack_http import (
    INVALID,
    VALID,
    assert_upload_error,
    call,
    upload,
    upload_bytes,
)

reference.require_module()  # reads KFP's reference data below
VALID_FILES = sorted(p for p in VALID.rglob("*") if p.is_file())
INVALID_FILES = sorted(p for p in INVALID.rglob("*") if p.is_file())
HELLO = (VALID / "hello_world.yaml").read_bytes()


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    from jupyter_dsp.stack import start_stack

    handle = start_stack(tmp_path_factory.mktemp("uploads") / "data", in_process=True)
    yield handle
    handle.stop()


def test_corpus_is_there():
    assert len(VALID_FILES) > 100 and len(INVALID_FILES) >= 5


@pytest.mark.parametrize("path", VALID_FILES, ids=lambda p: str(p.relative_to(VALID)))
def test_every_valid_reference_pipeline_uploads(fresh, path):
    name = str(path.relative_to(VALID)).replace("/", "__")
    response = upload_bytes(fresh, path.name, path.read_bytes(), name=name)
    assert response.status_code == 200, response.text
    pipeline = response.json()
    assert pipeline["name"] == name
    versions = call(fresh, "GET", f"/pipelines/{pipeline['pipeline_id']}/versions").json()
    spec = versions["pipeline_versions"][0]["pipeline_spec"]
    inner = spec.get("pipeline_spec", spec)
    assert inner["pipelineInfo"]["name"] and "root" in inner


@pytest.mark.parametrize("path", INVALID_FILES, ids=lambda p: p.name)
def test_every_invalid_reference_file_is_refused_with_a_clear_400(fresh, path):
    before = call(fresh, "GET", "/pipelines", params={"page_size": 1}).json().get("total_size", 0)
    response = upload_bytes(fresh, path.name, path.read_bytes(), name=f"bad-{path.name}")
    body = assert_upload_error(response, 400)
    assert len(body["error_message"]) > 15
    after = call(fresh, "GET", "/pipelines", params={"page_size": 1}).json().get("total_size", 0)
    assert after == before, "nothing is stored for a refused upload"


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _tgz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.mark.parametrize(
    "filename, data",
    [
        ("p.yaml", HELLO),
        ("p.yml", HELLO),
        ("p.json", json.dumps(yaml.safe_load(HELLO)).encode()),
        ("p.zip", _zip({"pipeline.yaml": HELLO})),
        ("p.tar.gz", _tgz({"pipeline.yaml": HELLO})),
        ("p.tgz", _tgz({"other.yaml": HELLO})),
    ],
    ids=["yaml", "yml", "json", "zip", "tar.gz", "tgz-any-yaml"],
)
def test_upload_formats(fresh, unique_name, filename, data):
    response = upload_bytes(fresh, filename, data, name=unique_name("fmt"))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "filename, data, words",
    [
        ("p.zip", _zip({"notes.txt": b"hi"}), "pipeline.yaml"),
        ("p.tar.gz", _tgz({}), "tarball"),
        ("p.tar.gz", b"\x1f\x8bnot really gzip", "tarball"),
        ("p.yaml", b"pipelineInfo: [unclosed", "YAML"),
        ("p.yaml", b"- a\n- list\n", "mapping"),
        ("p.yaml", HELLO.replace(b"schemaVersion: 2.1.0", b"schemaVersion: 9.9.9"), "schema"),
        ("p.yaml", HELLO + b"\n---\n" + HELLO, "multiple pipeline specs"),
        ("p.yaml", HELLO.replace(b"root:", b"rooot:"), "rooot"),
        ("p.txt", b"hello", "Unexpected pipeline file format"),
    ],
    ids=[
        "zip-no-yaml",
        "empty-tgz",
        "bad-gzip",
        "broken-yaml",
        "not-mapping",
        "schema-version",
        "two-specs",
        "unknown-field",
        "txt",
    ],
)
def test_bad_uploads_say_what_is_wrong(fresh, unique_name, filename, data, words):
    body = assert_upload_error(upload_bytes(fresh, filename, data, name=unique_name("bad")), 400)
    assert words.lower() in body["error_message"].lower()


def test_missing_file_field_is_400(fresh):
    response = call(fresh, "POST", "/pipelines/upload", files={"other": ("p.yaml", HELLO)})
    assert "uploadfile" in assert_upload_error(response, 400)["error_message"]


def test_platform_spec_is_returned_next_to_the_pipeline_spec(fresh, unique_name):
    path = VALID / "pipeline_with_secret_as_volume.yaml"
    text = path.read_text()
    assert "\n---\n" in text and "platforms:" in text
    created = upload(fresh, unique_name("platform"), path=path.name).json()
    versions = call(fresh, "GET", f"/pipelines/{created['pipeline_id']}/versions").json()
    spec = versions["pipeline_versions"][0]["pipeline_spec"]
    assert set(spec) == {"pipeline_spec", "platform_spec"}
    assert "kubernetes" in spec["platform_spec"]["platforms"]


def test_oversize_upload_gets_413_json(fresh, unique_name):
    data = b"# padding\n" * (33 * 1024 * 1024 // 10)
    response = upload_bytes(fresh, "big.yaml", data, name=unique_name("big"))
    body = assert_upload_error(response, 413)
    assert "too large" in body["error_message"].lower()


def test_concurrent_uploads_of_one_name_exactly_one_wins(fresh, unique_name):
    name = unique_name("race")
    results: list[int] = []
    barrier = threading.Barrier(6)

    def go() -> None:
        barrier.wait()
        results.append(upload_bytes(fresh, "p.yaml", HELLO, name=name).status_code)

    threads = [threading.Thread(target=go) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200, 409, 409, 409, 409, 409]
    listed = call(
        fresh,
        "GET",
        "/pipelines",
        params={
            "filter": json.dumps(
                {"predicates": [{"key": "name", "operation": "EQUALS", "string_value": name}]}
            )
        },
    ).json()
    assert listed["total_size"] == 1


def test_upload_version_needs_an_existing_pipeline(fresh):
    response = upload_bytes(
        fresh, "p.yaml", HELLO, endpoint="/pipelines/upload_version", name="v", pipelineid="nope"
    )
    assert_upload_error(response, 404)
    response = upload_bytes(fresh, "p.yaml", HELLO, endpoint="/pipelines/upload_version", name="v")
    assert_upload_error(response, 400)


def test_version_names_are_unique_per_pipeline(fresh, unique_name):
    pid = upload(fresh, unique_name("pv")).json()["pipeline_id"]
    first = upload_bytes(
        fresh, "p.yaml", HELLO, endpoint="/pipelines/upload_version", name="v1", pipelineid=pid
    )
    assert first.status_code == 200, first.text
    again = upload_bytes(
        fresh, "p.yaml", HELLO, endpoint="/pipelines/upload_version", name="v1", pipelineid=pid
    )
    assert_upload_error(again, 409)


def test_tags_on_upload(fresh, unique_name):
    response = upload(fresh, unique_name("tags"), tags=json.dumps({"team": "a"}))
    assert response.json()["tags"] == {"team": "a"}
    bad = upload(fresh, unique_name("tags"), tags="not json")
    assert_upload_error(bad, 400)


def _mutations():
    from hypothesis import strategies as st

    text = HELLO.decode()
    cut = st.integers(min_value=0, max_value=len(text))
    return st.one_of(
        st.binary(max_size=2048),
        st.text(max_size=512).map(str.encode),
        st.tuples(cut, cut).map(lambda ab: (text[: min(ab)] + text[max(ab) :]).encode()),
        st.tuples(cut, st.text(max_size=20)).map(
            lambda at: (text[: at[0]] + at[1] + text[at[0] :]).encode()
        ),
    )


def test_mangled_packages_get_400_never_500(fresh):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    @settings(
        max_examples=150,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(data=_mutations(), filename=st.sampled_from(["p.yaml", "p.json", "p.zip", "p.tgz"]))
    def run(data: bytes, filename: str) -> None:
        response = upload_bytes(fresh, filename, data, name="fuzzed")
        assert response.status_code in (200, 400, 409), response.text
        if response.status_code != 200:
            assert set(response.json()) == {"error_message", "error_details"}
        else:
            call(
                fresh,
                "DELETE",
                f"/pipelines/{response.json()['pipeline_id']}",
                params={"cascade": "true"},
            )

    run()


def test_yaml_alias_bomb_is_refused_quickly(fresh, unique_name):
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for prev, name in zip("abcdefghijklmn", "bcdefghijklmno", strict=True):
        lines.append(f"{name}: &{name} [" + ", ".join(f"*{prev}" for _ in range(9)) + "]")
    bomb = ("\n".join(lines) + "\n").encode()
    # refused for what it expands to (issue 20), before it is expanded: 413
    body = assert_upload_error(upload_bytes(fresh, "bomb.yaml", bomb, name=unique_name("b")), 413)
    assert "aliases" in body["error_message"]
