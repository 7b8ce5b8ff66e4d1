"""The stack reads a step's files as the step could (issue 20): outputs it reports, artifacts
served after a swap between the stack's check and its read, and a single-user stack's
importer, which reads its working directory and nothing else.
(No ``from __future__ import annotations``: kfp reads the components' annotations.)
"""

import json
import os
import shutil
import tarfile
from pathlib import Path

import pytest
from kfp import dsl
from step_rights_helpers import (
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
from jupyter_dsp.stack.results import contained_path
from jupyter_dsp.stack.results_read import iter_file, iter_tar, tar_plan


@dsl.component(base_image="python:3.11")
def forge(token_path: str, out: dsl.Output[dsl.Artifact]) -> str:
    """Reports its output parameter through a link to the token, and its artifact as a
    ``custom_path`` naming the token, then exits before the executor writes its own."""
    import json
    import os

    root = os.path.dirname(out.path)
    os.makedirs(os.path.join(root, ".outputs"), exist_ok=True)
    os.symlink(token_path, os.path.join(root, ".outputs", "Output"))
    with open(out.path, "w") as f:
        f.write("innocent")
    forged = {
        "artifacts": {
            "out": {"artifacts": [{"name": "out", "uri": out.path, "custom_path": token_path}]}
        }
    }
    with open(os.path.join(root, "executor_output.json"), "w") as f:
        json.dump(forged, f)
    os._exit(0)


@dsl.pipeline(name="forge")
def forged() -> str:
    return forge(token_path="").outputs["Output"]


@pytest.mark.skipif(not is_root(), reason="the attack needs a stack run as root")
def test_outputs_reported_through_links_are_not_read(stack_factory, tmp_path) -> None:
    h = attack_stack(stack_factory)
    spec = compile_spec(forged, tmp_path)
    token = str(h.data_dir / TOKEN_FILE)
    spec["root"]["dag"]["tasks"]["forge"]["inputs"]["parameters"]["token_path"] = {
        "runtimeValue": {"constant": token}
    }
    done = run(h, "alice", "team-a", spec)
    assert done["state"] == "FAILED"
    error = task(done, "forge")["error"]["message"]
    assert "cannot be read" in error and "links are not followed" in error, error
    assert_no_secret(h, json.dumps(done))
    for artifact in artifacts(h, "alice", "team-a", done["run_id"]):
        assert_no_secret(h, content(h, "alice", artifact["artifact_id"]).text)


def _swap_for_link(path: Path, target: Path) -> None:
    path.unlink()
    os.symlink(target, path)


def test_a_swap_between_the_check_and_the_read_serves_nothing(tmp_path) -> None:
    """The window the stack's check leaves: the path was checked inside the run, then the
    step swaps the file, or a directory on the way, for a link before the bytes are read."""
    secret = tmp_path / "secret"
    secret.write_text("TOP-SECRET")
    run_dir = tmp_path / "run"
    out = run_dir / "artifacts" / "task" / "out"
    out.mkdir(parents=True)
    (out / "a.txt").write_text("step data")
    checked = contained_path(str(out / "a.txt"), run_dir)
    assert checked is not None
    _swap_for_link(out / "a.txt", secret)
    with pytest.raises(OSError, match="symbolic link"):
        b"".join(iter_file(checked, 0, 100))
    # a tar planned from regular files, one swapped before it is streamed: zeros, not bytes
    (out / "a.txt").unlink()
    (out / "a.txt").write_text("0123456789")
    plan = tar_plan(out)
    _swap_for_link(out / "a.txt", secret)
    data = b"".join(iter_tar(plan, 0, plan.size))
    assert len(data) == plan.size and b"TOP-SECRET" not in data
    # a directory on the way swapped for a link to the secret's directory
    (out / "a.txt").unlink()
    task_dir = out.parent
    shutil.move(str(task_dir), str(run_dir / "elsewhere"))
    os.symlink(tmp_path, task_dir)
    assert contained_path(str(task_dir / "secret"), run_dir) is None
    with pytest.raises(OSError):
        b"".join(iter_file(task_dir / "secret", 0, 100))


@dsl.component(base_image="python:3.11")
def show(data: dsl.Input[dsl.Dataset]) -> str:
    with open(data.path, "rb") as handle:
        return handle.read().decode("utf-8", "replace")


@dsl.pipeline(name="import-show")
def import_show(uri: str) -> str:
    imported = dsl.importer(artifact_uri=uri, artifact_class=dsl.Dataset, reimport=True)
    return show(data=imported.output).output


def test_a_single_user_stack_imports_from_its_working_directory(
    stack_factory, tmp_path, monkeypatch
) -> None:
    """Run as whoever runs the tests (unprivileged in CI's second pass, root here)."""
    work = world_readable_dir("dsp-rights-work-")
    outside = world_readable_dir("dsp-rights-outside-")
    (work / "data").mkdir(mode=0o755)
    (work / "data" / "table.csv").write_text("k,v\n1,2\n")
    (work / "data" / "table.csv").chmod(0o644)
    (outside / "other.csv").write_text("not here\n")
    (outside / "other.csv").chmod(0o644)
    monkeypatch.chdir(work)
    h = stack_factory(single_user=True, data_dir=work / ".stack-data")  # data dir in the cwd
    h.tokens = {"me": h.token}
    spec = compile_spec(import_show, tmp_path)
    try:
        for uri in (str(work / "data" / "table.csv"), (work / "data" / "table.csv").as_uri()):
            done = run(h, "me", "default", spec, {"uri": uri})
            assert done["state"] == "SUCCEEDED", done.get("error")
            assert task(done, "show")["output_parameters"]["Output"] == "k,v\n1,2\n"
        refused = {
            str(outside / "other.csv"): "import roots",
            str(h.data_dir / TOKEN_FILE): "data dir",
        }
        for uri, rule in refused.items():
            done = run(h, "me", "default", spec, {"uri": uri})
            assert done["state"] == "FAILED", uri
            [failed] = [t for t in done["run_details"]["task_details"] if t["state"] == "FAILED"]
            assert rule in failed["error"]["message"], failed["error"]
            assert_no_secret(h, json.dumps(done))
    finally:
        shutil.rmtree(outside)


def test_tarfile_of_tar_plan_is_readable(tmp_path) -> None:
    """The links a step leaves in a directory output are left out of its tar."""
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    (out / "sub" / "f.txt").write_text("f")
    os.symlink("/etc/passwd", out / "sub" / "passwd")
    plan = tar_plan(out)
    data = b"".join(iter_tar(plan, 0, plan.size))
    path = tmp_path / "out.tar"
    path.write_bytes(data)
    with tarfile.open(path) as tar:
        assert sorted(tar.getnames()) == ["out", "out/sub", "out/sub/f.txt"]
