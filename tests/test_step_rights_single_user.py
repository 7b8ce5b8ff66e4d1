"""Issue 20's step-rights attacks on a single-user stack run unprivileged (an ordinary uid, as on
a laptop; tests/sandbox_stacks.py). There the step is the user, but what the stack does for a
step must still not hand it the stack's own files: an importer of the stack's token, database
or data dir (outside the import root, the stack's working directory) fails and says why, as do
``/etc/shadow`` and links planted under the root; a cached rerun serves no linked file and the
step cache keeps no copy of one; an output swapped for a link after its run is served as
nothing; a package's build backend reads none of them. (tests/test_step_rights*.py run the
same attacks on a multi-user stack run as root.)
(No ``from __future__ import annotations``: kfp reads the components' annotations.)
"""

import json
import os
import shutil
import uuid
from pathlib import Path

import pytest
from kfp import dsl
from sandbox_stacks import UNPRIVILEGED_UID, create_run, unprivileged_stack, wait_run
from stack_http import call
from step_rights_helpers import SHADOW, assert_no_secret, compile_spec, task
from test_step_rights import _tar_names, cache_attack, cache_scoped, import_attack
from test_step_rights_build import _publish_sdist, _reports

from jupyter_dsp.stack.context import DB_FILE, TOKEN_FILE

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="making the unprivileged stack needs root"),
    pytest.mark.skipif(not shutil.which("bwrap"), reason="bubblewrap (bwrap) is not installed"),
]


@pytest.fixture(scope="module")
def h(tmp_path_factory):
    handle = unprivileged_stack(tmp_path_factory.mktemp("single") / "data")
    yield handle
    handle.stop()


def run(h, spec: dict, parameters: dict) -> dict:
    done = wait_run(h, create_run(h, spec, parameters), timeout=300)
    assert_no_secret(h, json.dumps(done))
    return done


def artifacts(h, run_id: str) -> list:
    listed = call(h, "GET", "/artifacts", params={"run_id": run_id})
    assert listed.status_code == 200, listed.text
    return listed.json().get("artifacts") or []


def content(h, artifact_id: str):
    return call(h, "GET", f"/artifacts/{artifact_id}/content")


def import_error(done: dict) -> str:
    failed = [t for t in done["run_details"]["task_details"] if t["state"] == "FAILED"]
    return failed[0]["error"]["message"] if failed else ""


def test_importers_read_none_of_the_stacks_files(h, tmp_path) -> None:
    spec = compile_spec(import_attack, tmp_path)
    for uri in (
        str(h.data_dir / TOKEN_FILE),
        (h.data_dir / TOKEN_FILE).as_uri(),
        str(h.data_dir / DB_FILE),
        str(SHADOW),
    ):
        done = run(h, spec, {"uri": uri})
        assert done["state"] == "FAILED", uri
        error = import_error(done)
        assert "import root" in error, (uri, error)


def test_importers_under_the_root_follow_no_planted_link(h, tmp_path) -> None:
    """Links planted in the working directory (the import root) lead nowhere."""
    cwd = Path.cwd()  # the stack's working directory: the test's, it inherited it
    planted = cwd / f".planted-{uuid.uuid4().hex[:8]}"
    planted.mkdir()
    try:
        os.symlink(h.data_dir / TOKEN_FILE, planted / "innocent.csv")
        os.symlink(h.data_dir, planted / "data-link")
        os.chown(planted, UNPRIVILEGED_UID, UNPRIVILEGED_UID)
        spec = compile_spec(import_attack, tmp_path)
        for uri in (str(planted / "innocent.csv"), str(planted / "data-link" / TOKEN_FILE)):
            done = run(h, spec, {"uri": uri})
            assert done["state"] == "FAILED", uri
            assert import_error(done), uri
    finally:
        shutil.rmtree(planted)


def test_a_cached_rerun_serves_no_linked_file(h, tmp_path) -> None:
    targets = {
        "token": str(h.data_dir / TOKEN_FILE),
        "shadow": str(SHADOW),
        "data": str(h.data_dir),
        "bob": str(h.data_dir / DB_FILE),
        "root": "/root",
    }
    spec = compile_spec(cache_attack, tmp_path)
    runs = [run(h, spec, {"targets": json.dumps(targets)}) for _ in (1, 2)]
    for done in runs:
        assert done["state"] == "SUCCEEDED", done.get("error")
    assert task(runs[1], "link-out")["state"] == "SUCCEEDED"  # not served from the cache
    served = artifacts(h, runs[1]["run_id"])
    assert {a["name"] for a in served} == {"out", "single"}
    for artifact in served:
        answer = content(h, artifact["artifact_id"])
        assert_no_secret(h, answer.content.decode("latin-1"))
        if answer.status_code == 200 and answer.headers["Content-Type"] == "application/x-tar":
            assert _tar_names(answer.content) == {"out": b"", "out/own.txt": b"mine"}
        else:
            assert answer.status_code == 404, answer.text
    for path in (h.data_dir / "step-cache").rglob("*"):
        assert not path.is_symlink() or not os.readlink(path).startswith("/")
        if path.is_file() and not path.is_symlink():
            assert_no_secret(h, path.read_text(errors="replace"))


def test_an_output_swapped_for_a_link_after_its_run_serves_nothing(h, tmp_path) -> None:
    done = run(h, compile_spec(cache_scoped, tmp_path), {"text": f"fine {uuid.uuid4().hex}"})
    assert done["state"] == "SUCCEEDED", done.get("error")
    [artifact] = artifacts(h, done["run_id"])
    assert b"fine" in content(h, artifact["artifact_id"]).content
    out = Path(task(done, "produce")["output_artifacts"]["out"][0]["uri"])
    (out / "data.txt").unlink()
    os.symlink(h.data_dir / TOKEN_FILE, out / "data.txt")
    os.lchown(out / "data.txt", UNPRIVILEGED_UID, UNPRIVILEGED_UID)
    answer = content(h, artifact["artifact_id"])
    assert answer.status_code == 200
    assert_no_secret(h, answer.content.decode("latin-1"))
    assert "out/data.txt" not in _tar_names(answer.content)  # the link is left out
    moved = out.with_name("moved")
    out.rename(moved)
    for target in (h.data_dir / TOKEN_FILE, h.data_dir):
        os.symlink(target, out)
        os.lchown(out, UNPRIVILEGED_UID, UNPRIVILEGED_UID)
        answer = content(h, artifact["artifact_id"])
        assert answer.status_code == 404, answer.text
        assert_no_secret(h, answer.text)
        out.unlink()


def test_a_build_backend_reads_none_of_the_stacks_files(h, tmp_path, package_index) -> None:
    """A PEP 517 backend built for a step (packages_to_install) runs as the user, sandboxed:
    the stack's token, database and data dir, /etc/shadow and /root are out of its reach."""
    marker = f"dsp-pwned-{uuid.uuid4().hex[:8]}"
    targets = {
        "token": str(h.data_dir / TOKEN_FILE),
        "database": str(h.data_dir / DB_FILE),
        "shadow": str(SHADOW),
        "runs": str(h.data_dir / "runs"),
    }
    markers = {"root_marker": f"/root/{marker}", "data_marker": str(h.data_dir / marker)}
    _publish_sdist(package_index, targets, markers)

    @dsl.component(
        base_image="python:3.11",
        packages_to_install=["dsp-evil-build==1.0"],
        pip_index_urls=[package_index.url],
    )
    def use_it() -> str:
        import dsp_evil_build

        return dsp_evil_build.VALUE

    @dsl.pipeline(name="evil-build")
    def evil_build() -> str:
        step = use_it()
        step.set_caching_options(False)
        return step.output

    done = run(h, compile_spec(evil_build, tmp_path), {})
    assert done["state"] == "SUCCEEDED", done.get("error")
    assert task(done, "use-it")["output_parameters"]["Output"] == "built"
    [report] = _reports(h.data_dir)
    assert report["uid"] == UNPRIVILEGED_UID
    leaked = {k: report[k] for k in (*targets, *markers) if not report[k].startswith("denied")}
    # a write into the sandbox's cover of the data dir lands nowhere real (checked below)
    if leaked.get("data_marker") == "written" and not (h.data_dir / marker).exists():
        leaked.pop("data_marker")
    # the run's own directory is the one thing of the data dir its build may see
    if "runs" in leaked and set(leaked["runs"].removeprefix("listed ").split(",")) <= {
        done["run_id"]
    }:
        leaked.pop("runs")
    assert leaked == {}
    assert report["secrets"] == []
    assert not Path("/root", marker).exists() and not (h.data_dir / marker).exists()
    assert_no_secret(h, json.dumps(report))
