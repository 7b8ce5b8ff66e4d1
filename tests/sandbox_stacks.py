"""Stacks and steps for the sandbox tests (tests/test_sandbox_escape.py).

- :func:`root_multi_user_stack`: a multi-user stack run as root (child process) with the
  identities ``alice`` (edit in ``team-a`` only) and ``bob`` (edit in ``other``).
- :func:`unprivileged_stack`: a single-user stack run as a non-root uid. This machine's
  Python may live under ``/root`` (0700), which no other user can reach, so the stack is
  started through bubblewrap as root with ``/root`` covered and the Python bound back (no
  other namespace), then ``setpriv`` to the uid: its steps meet what an ordinary user's
  laptop stack gives them.
- Small helpers: create a run (optionally in a namespace), wait for it, read host ``/proc``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from stack_http import call

import jupyter_dsp
from jupyter_dsp.stack.context import STATE_FILE, TOKEN_FILE

UNPRIVILEGED_UID = 199_321
IDENTITIES = {"alice": ({"team-a": "edit"}, "none"), "bob": ({"other": "edit"}, "none")}


class UnprivilegedStack:
    """A stack served by a non-root uid in a child process (see the module's doc)."""

    def __init__(self, data_dir: Path, process: subprocess.Popen[bytes], url: str) -> None:
        self.data_dir, self.process, self.url = data_dir, process, url

    @property
    def token(self) -> str:
        return (self.data_dir / TOKEN_FILE).read_text().strip()

    def stop(self) -> None:
        # the stack itself: setpriv's change of uid cleared the parent-death signal that
        # bwrap's --die-with-parent gave it
        try:
            os.kill(int(json.loads((self.data_dir / STATE_FILE).read_text())["pid"]), 15)
        except (OSError, ValueError, KeyError):
            pass
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def _closed_ancestors(path: Path) -> set[Path]:
    found = set()
    current = Path("/")
    for part in path.resolve().parts[1:]:
        current = current / part
        if not current.stat().st_mode & 0o001:
            found.add(current)
            break
    return found


def unprivileged_stack(data_dir: Path) -> UnprivilegedStack:
    bwrap, setpriv = shutil.which("bwrap"), shutil.which("setpriv")
    assert bwrap and setpriv
    data_dir.mkdir(parents=True)
    os.chown(data_dir, UNPRIVILEGED_UID, UNPRIVILEGED_UID)
    package_root = Path(jupyter_dsp.__file__).resolve().parent.parent
    readable = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).resolve().parent}
    readable |= {Path(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p}
    readable.add(package_root)
    hide: set[Path] = set()
    for path in readable:
        hide |= _closed_ancestors(path)
    command = [sys.executable, "-m", "jupyter_dsp", "stack", "serve", "--single-user"]
    command += ["--data-dir", str(data_dir)]
    # no PID namespace and the host's /proc (the stack's steps make their own PID namespace
    # and /proc from it); /root and /tmp covered, the Python and the data dir bound back
    argv = [bwrap, "--die-with-parent", "--dev-bind", "/", "/", "--tmpfs", "/tmp"]
    for path in sorted(hide):
        argv += ["--perms", "0711", "--tmpfs", str(path)]
    for path in sorted(readable | {data_dir}, key=lambda p: len(p.parts)):
        cover = next((h for h in (*hide, Path("/tmp")) if h in path.parents), None)
        if cover is None:
            continue
        for parent in reversed(path.parents):
            if cover in parent.parents:
                argv += ["--perms", "0711", "--dir", str(parent)]
        argv += ["--bind" if path == data_dir else "--ro-bind", str(path), str(path)]
    argv += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    argv += [setpriv, f"--reuid={UNPRIVILEGED_UID}", f"--regid={UNPRIVILEGED_UID}"]
    argv += ["--clear-groups", "--", *command]
    env = {**os.environ, "HOME": str(data_dir)}
    env["PYTHONPATH"] = os.pathsep.join([str(package_root), env.get("PYTHONPATH", "")])
    process = subprocess.Popen(
        argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the unprivileged stack ended: {process.stderr.read()!r}")  # type: ignore[union-attr]
        try:
            url = json.loads((data_dir / STATE_FILE).read_text())["url"]
            with urllib.request.urlopen(f"{url}/apis/v2beta1/healthz", timeout=2):
                return UnprivilegedStack(data_dir, process, url)
        except (OSError, ValueError, KeyError):
            time.sleep(0.1)
    process.kill()
    raise TimeoutError("the unprivileged stack did not start")


def create_run(h: Any, spec: dict, parameters: dict, token: Any = None, namespace: str = "") -> str:
    body = {"display_name": "sandbox", "pipeline_spec": spec}
    body["runtime_config"] = {"parameters": parameters}
    params = {"namespace": namespace} if namespace else {}
    r = call(h, "POST", "/runs", token, json=body, params=params)
    assert r.status_code == 200, r.text
    return str(r.json()["run_id"])


def wait_run(h: Any, run_id: str, token: Any = None, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = call(h, "GET", f"/runs/{run_id}", token).json()
        if run["state"] in ("SUCCEEDED", "FAILED", "CANCELED"):
            return dict(run)
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} did not finish")


def task_output(run: dict, name: str) -> Any:
    [task] = [t for t in run["run_details"]["task_details"] if t["display_name"] == name]
    return task["output_parameters"]["Output"]


def host_pids_of_uid(uid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/status") as f:
                    line = next(x for x in f if x.startswith("Uid:"))
            except (OSError, StopIteration):
                continue
            if int(line.split()[1]) == uid:
                found.append(int(entry))
    return found
