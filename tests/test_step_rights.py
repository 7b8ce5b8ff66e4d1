"""Nothing done for a step runs with more rights than the step (issue 20): importers, the step
cache and artifact reads, attacked by ``alice`` (team-a) and ``bob`` (other) on a multi-user
stack run as root. Each test checks what the attacker sees: the run's state and error, the
artifacts served, the logs; never the stack's token, ``/etc/shadow`` or another namespace's
run. (No ``from __future__ import annotations``: kfp reads the components' annotations.)
"""

import io
import json
import os
import shutil
import tarfile
from pathlib import Path

import pytest
from kfp import dsl
from step_rights_helpers import (
    SHADOW,
    artifacts,
    assert_no_secret,
    attack_stack,
    compile_spec,
    content,
    is_root,
    run,
    task,
    world_readable_dir,
)

from jupyter_dsp.stack.context import TOKEN_FILE
from jupyter_dsp.stack.runner.step_settings import StepSettings

pytestmark = pytest.mark.skipif(not is_root(), reason="the attacks need a stack run as root")


@dsl.component(base_image="python:3.11")
def show(data: dsl.Input[dsl.Dataset]) -> str:
    with open(data.path, "rb") as handle:
        return handle.read().decode("utf-8", "replace")


@dsl.pipeline(name="import-attack")
def import_attack(uri: str) -> str:
    imported = dsl.importer(artifact_uri=uri, artifact_class=dsl.Dataset, reimport=True)
    return show(data=imported.output).output


@dsl.component(base_image="python:3.11")
def keep_secret(out: dsl.Output[dsl.Artifact]) -> None:
    with open(out.path, "w") as f:
        f.write("bob's private result")


@dsl.pipeline(name="keeper")
def keeper() -> None:
    keep_secret()


@dsl.component(base_image="python:3.11")
def link_out(targets: str, out: dsl.Output[dsl.Artifact], single: dsl.Output[dsl.Artifact]) -> str:
    import json
    import os

    os.makedirs(out.path)
    for label, path in json.loads(targets).items():
        os.symlink(path, os.path.join(out.path, label))
    os.symlink("own.txt", os.path.join(out.path, "inside-link"))
    with open(os.path.join(out.path, "own.txt"), "w") as f:
        f.write("mine")
    os.symlink(json.loads(targets)["token"], single.path)
    return "linked"


@dsl.pipeline(name="cache-attack")
def cache_attack(targets: str) -> str:
    step = link_out(targets=targets)
    step.set_caching_options(True)
    return step.outputs["Output"]


@dsl.component(base_image="python:3.11")
def produce(text: str, out: dsl.Output[dsl.Dataset]) -> str:
    import os

    os.makedirs(out.path)
    with open(os.path.join(out.path, "data.txt"), "w") as f:
        f.write(text)
    with open(os.path.join(out.path, "plain.txt"), "w") as f:
        f.write("plain " + text)
    return text


@dsl.pipeline(name="cache-scoped")
def cache_scoped(text: str) -> str:
    step = produce(text=text)
    step.set_caching_options(True)
    return step.outputs["Output"]


def _bob_artifact(h, tmp_path: Path) -> str:
    kept = run(h, "bob", "other", compile_spec(keeper, tmp_path))
    assert kept["state"] == "SUCCEEDED", kept.get("error")
    uri = task(kept, "keep-secret")["output_artifacts"]["out"][0]["uri"]
    assert Path(uri).read_text() == "bob's private result"  # the target is real
    return uri


def _imported(h, tmp_path: Path, uri: str) -> tuple[dict, str]:
    """Alice's importer run of ``uri``: the run and the importer's error ("" if none)."""
    done = run(h, "alice", "team-a", compile_spec(import_attack, tmp_path), {"uri": uri})
    assert_no_secret(h, json.dumps(done))
    failed = [t for t in done["run_details"]["task_details"] if t["state"] == "FAILED"]
    error = failed[0]["error"]["message"] if failed else ""
    return done, error


def test_importers_read_nothing_outside_the_import_roots(stack_factory, tmp_path) -> None:
    h = attack_stack(stack_factory)
    bob = _bob_artifact(h, tmp_path)
    visible = world_readable_dir("dsp-rights-visible-") / "public.csv"
    visible.write_text("a,b\n")
    visible.chmod(0o644)
    targets = [
        str(h.data_dir / TOKEN_FILE),
        str(SHADOW),
        SHADOW.as_uri(),
        str(h.data_dir / "stack.db"),
        bob,
        Path(bob).as_uri(),
        str(visible),  # readable by anyone, but no import root on a multi-user stack
    ]
    for uri in targets:
        done, error = _imported(h, tmp_path, uri)
        assert done["state"] == "FAILED", uri
        assert "import roots (none on a multi-user stack" in error, (uri, error)
        assert "--import-root" in error  # says how to allow a directory
    shutil.rmtree(visible.parent)


def test_importers_under_a_root_read_only_what_the_step_could(stack_factory, tmp_path) -> None:
    h = attack_stack(stack_factory, steps=StepSettings(import_roots=("/",)))
    bob = _bob_artifact(h, tmp_path)
    shared = world_readable_dir("dsp-rights-root-")
    (shared / "public.csv").write_text("x,y\n1,2\n")
    (shared / "public.csv").chmod(0o644)
    (shared / "private.csv").write_text("root only\n")
    (shared / "private.csv").chmod(0o600)
    os.symlink(str(SHADOW), shared / "innocent.csv")
    os.symlink(str(h.data_dir), shared / "data-link")
    try:
        done, error = _imported(h, tmp_path, str(shared / "public.csv"))
        assert done["state"] == "SUCCEEDED", error
        assert task(done, "show")["output_parameters"]["Output"] == "x,y\n1,2\n"
        for uri, rule in (
            (str(SHADOW), "the step's user may not read"),
            (str(shared / "private.csv"), "the step's user may not read"),
            (str(h.data_dir / TOKEN_FILE), "data dir and service-account token directories"),
            (bob, "data dir and service-account token directories"),
            (str(shared / "innocent.csv"), "symbolic link"),
            ((shared / "data-link" / TOKEN_FILE).as_uri(), "symbolic link"),
            ("/var/run/secrets/kubernetes.io/serviceaccount/token", "token directories"),
        ):
            done, error = _imported(h, tmp_path, uri)
            assert done["state"] == "FAILED", uri
            assert rule in error, (uri, error)
    finally:
        shutil.rmtree(shared)


def _tar_names(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: (tar.extractfile(m).read() if m.isfile() else b"") for m in tar}


def test_a_cached_rerun_serves_no_linked_file(stack_factory, tmp_path) -> None:
    h = attack_stack(stack_factory)
    bob = _bob_artifact(h, tmp_path)
    targets = {
        "token": str(h.data_dir / TOKEN_FILE),
        "shadow": str(SHADOW),
        "data": str(h.data_dir),
        "bob": bob,
        "root": "/root",
    }
    spec = compile_spec(cache_attack, tmp_path)
    runs = [run(h, "alice", "team-a", spec, {"targets": json.dumps(targets)}) for _ in (1, 2)]
    for done in runs:
        assert done["state"] == "SUCCEEDED", done.get("error")
        assert_no_secret(h, json.dumps(done))
    # an output with links leading out of it is never cached: the rerun ran the step again
    assert task(runs[1], "link-out")["state"] == "SUCCEEDED"
    served = artifacts(h, "alice", "team-a", runs[1]["run_id"])
    assert {a["name"] for a in served} == {"out", "single"}
    for artifact in served:
        answer = content(h, "alice", artifact["artifact_id"])
        assert_no_secret(h, answer.text)
        assert b"bob's private result" not in answer.content
        if answer.status_code == 200 and answer.headers["Content-Type"] == "application/x-tar":
            names = _tar_names(answer.content)
            assert names == {"out": b"", "out/own.txt": b"mine"}  # the links left out
        else:  # the output that is itself a link to the token: no content
            assert answer.status_code == 404, answer.text
    # nothing under the stack's step cache holds a copy of a target
    for path in (h.data_dir / "step-cache").rglob("*"):
        assert not path.is_symlink() or not os.readlink(path).startswith("/")
        if path.is_file() and not path.is_symlink():
            assert_no_secret(h, path.read_text(errors="replace"))


def test_cache_entries_are_never_served_to_another_namespace(stack_factory, tmp_path) -> None:
    h = attack_stack(stack_factory)
    spec = compile_spec(cache_scoped, tmp_path)
    first = run(h, "alice", "team-a", spec, {"text": "team-a data"})
    again = run(h, "alice", "team-a", spec, {"text": "team-a data"})
    other = run(h, "bob", "other", spec, {"text": "team-a data"})
    assert task(first, "produce")["state"] == "SUCCEEDED"
    assert task(again, "produce")["state"] == "CACHED"  # the cache works within team-a
    assert task(other, "produce")["state"] == "SUCCEEDED"  # bob's step ran: no hit for him
    [cached] = artifacts(h, "alice", "team-a", again["run_id"])
    names = _tar_names(content(h, "alice", cached["artifact_id"]).content)
    assert names["out/data.txt"] == b"team-a data"


def test_artifact_reads_refuse_a_file_swapped_for_a_link_after_the_run(
    stack_factory, tmp_path
) -> None:
    """What a step's lingering process would do after SUCCEEDED: swap its output file, and a
    directory of its output, for links to the token, /etc/shadow and the data dir."""
    h = attack_stack(stack_factory)
    spec = compile_spec(cache_scoped, tmp_path)
    done = run(h, "alice", "team-a", spec, {"text": "fine"})
    assert done["state"] == "SUCCEEDED", done.get("error")
    [artifact] = artifacts(h, "alice", "team-a", done["run_id"])
    before = content(h, "alice", artifact["artifact_id"])
    assert _tar_names(before.content)["out/data.txt"] == b"fine"
    out = Path(task(done, "produce")["output_artifacts"]["out"][0]["uri"])
    (out / "data.txt").unlink()
    os.symlink(h.data_dir / TOKEN_FILE, out / "data.txt")
    (out / "plain.txt").unlink()
    os.symlink(SHADOW, out / "plain.txt")
    os.symlink(h.data_dir, out / "data-dir")
    answer = content(h, "alice", artifact["artifact_id"])
    assert answer.status_code == 200
    assert_no_secret(h, answer.content.decode("latin-1"))
    assert _tar_names(answer.content) == {"out": b""}  # the links are left out
    # the whole output swapped for a link: no content at all
    moved = out.with_name("moved")
    out.rename(moved)
    for target in (h.data_dir / TOKEN_FILE, SHADOW, h.data_dir):
        os.symlink(target, out)
        answer = content(h, "alice", artifact["artifact_id"])
        assert answer.status_code == 404, answer.text
        assert_no_secret(h, answer.text)
        out.unlink()
    # a directory on the way swapped for a link (to the run dir of another namespace)
    task_dir = out.parent
    task_dir.rename(task_dir.with_name("was"))
    os.symlink(h.data_dir / "runs", task_dir)
    answer = content(h, "alice", artifact["artifact_id"])
    assert answer.status_code == 404 and "bob" not in answer.text
