"""Where steps cannot be sandboxed, a multi-user stack does not start; the data dir is private.

- A multi-user stack run as root starts only where bubblewrap can make a step's sandbox; it
  refuses saying what to install or enable (a missing ``--bwrap`` program, or no bwrap on
  PATH). A single-user stack starts there all the same (its steps run as the user).
- The data dir is 0700 and its files (database, token, state, logs, a run's job and logs)
  are 0600, on a stack that ran a pipeline.
- The launcher itself: a sandbox that bubblewrap cannot make ends the step with bwrap's own
  reason in the step's log, never runs it half-isolated.
(No ``from __future__ import annotations``: kfp reads the components' annotations.)
"""

import os
import shutil
import stat
import subprocess
import sys

import pytest
import yaml  # type: ignore[import-untyped]
from kfp import compiler, dsl  # type: ignore[import-untyped]
from sandbox_stacks import create_run, wait_run

from jupyter_dsp.stack import start_stack
from jupyter_dsp.stack.runner.launch import StepLauncher
from jupyter_dsp.stack.runner.step_settings import StepSettings

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="only a stack run as root has step users")


@as_root
def test_multi_user_stack_refuses_to_start_without_bwrap(tmp_path):
    missing = StepSettings(bwrap=str(tmp_path / "no-such-bwrap"))
    with pytest.raises(RuntimeError) as refused:
        start_stack(tmp_path / "data", steps=missing)
    said = str(refused.value)
    assert "no bwrap program" in said and "no-such-bwrap" in said
    assert "apt-get install bubblewrap" in said and "unprivileged_userns_clone" in said
    assert "Traceback" not in said  # a message, not a crash
    single = start_stack(tmp_path / "single", steps=missing, single_user=True)
    single.stop()  # single-user: steps run as the user, no sandbox needed to start


@as_root
def test_the_command_line_says_what_to_install(tmp_path):
    env = {**os.environ, "PATH": str(tmp_path)}  # no bwrap (nor anything) on PATH
    done = subprocess.run(
        [sys.executable, "-m", "jupyter_dsp", "stack", "serve", "--data-dir", str(tmp_path / "d")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "no bwrap program 'bwrap' on PATH" in done.stderr
    assert "apt-get install bubblewrap" in done.stderr and "Traceback" not in done.stderr


@dsl.component(base_image="python:3.11")
def hello(name: str) -> str:
    print("hello", name)
    return "hello " + name


@dsl.pipeline(name="hello")
def hello_pipeline(name: str) -> str:
    return hello(name=name).output


def test_the_data_dir_and_its_files_are_private(tmp_path):
    data_dir = tmp_path / "data"
    h = start_stack(data_dir, single_user=os.geteuid() != 0)
    try:
        path = tmp_path / "hello.yaml"
        compiler.Compiler().compile(hello_pipeline, str(path))
        run = wait_run(h, create_run(h, yaml.safe_load(path.read_text()), {"name": "x"}))
        assert run["state"] == "SUCCEEDED", run.get("error")
        run_dir = data_dir / "runs" / run["run_id"]
        private = [data_dir / n for n in ("stack.db", "token", "stack.json", "stack.log")]
        private += [run_dir / "job.json", run_dir / "worker.log", *(run_dir / "logs").iterdir()]
        assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
        assert len(private) > 6 and all(p.is_file() for p in private)
        modes = {str(p): oct(stat.S_IMODE(p.stat().st_mode)) for p in private}
        assert set(modes.values()) == {"0o600"}, modes
        loose = [
            entry.name
            for entry in os.scandir(data_dir)
            if entry.is_file() and entry.stat().st_mode & 0o077
        ]
        assert loose == []  # stack.lock, step-identities.json, the database's -wal/-shm too
    finally:
        h.stop()


def test_an_older_data_dir_is_tightened(tmp_path):
    data_dir = tmp_path / "old"
    data_dir.mkdir(mode=0o755)
    (data_dir / "token").write_text("old-token\n")
    os.chmod(data_dir / "token", 0o644)
    h = start_stack(data_dir, single_user=True, in_process=True)
    h.stop()
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((data_dir / "token").stat().st_mode) == 0o600


@as_root
@pytest.mark.skipif(not shutil.which("bwrap"), reason="bubblewrap (bwrap) is not installed")
def test_a_sandbox_bwrap_cannot_make_ends_the_step_with_its_reason(tmp_path):
    run_dir = tmp_path / "data" / "runs" / "r"
    launcher = StepLauncher("r", run_dir, tmp_path / "data", uid=200_999)
    log = tmp_path / "step.log"
    assert launcher.run(["sh", "-c", "id -u > out"], log, {}) == 0
    assert (launcher.work / "out").read_text().strip() == "200999"
    shutil.rmtree(launcher.tmp)  # the step's /tmp is gone: bwrap cannot bind it
    code = launcher.run(["sh", "-c", "echo ran > ran"], log, {})
    assert code != 0 and not (launcher.work / "ran").exists()
    assert "bwrap:" in log.read_text()  # bubblewrap's own reason, in the step's log


@as_root
def test_a_multi_user_step_never_runs_unsandboxed(tmp_path):
    launcher = StepLauncher(
        "r", tmp_path / "runs" / "r", tmp_path, bwrap=str(tmp_path / "gone"), require_sandbox=True
    )
    log = tmp_path / "step.log"
    assert launcher.run(["sh", "-c", "echo ran > ran"], log, {}) == 126
    assert not (launcher.work / "ran").exists()
    assert "apt-get install bubblewrap" in log.read_text()
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
