"""The stack as a process: CLI, stack.json, restart and kill -9 keep what was acknowledged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import requests
from stack_http import assert_kfp_error, call, upload

from jupyter_dsp.stack import start_stack

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "jupyter_dsp", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_kill_9_loses_nothing_acknowledged(tmp_path, unique_name):
    handle = start_stack(tmp_path / "data")
    try:
        names = [unique_name("durable") for _ in range(5)]
        ids = [upload(handle, n).json()["pipeline_id"] for n in names]
        exp = call(handle, "POST", "/experiments", json={"display_name": "kept"}).json()
        token = handle.token
        handle.kill()
        with_state = json.loads((tmp_path / "data" / "stack.json").read_text())
        assert with_state["pid"] != os.getpid()
    finally:
        handle.stop()
    again = start_stack(tmp_path / "data")
    try:
        assert again.token == token, "the default token survives restarts"
        for pipeline_id, name in zip(ids, names, strict=True):
            got = call(again, "GET", f"/pipelines/{pipeline_id}")
            assert got.status_code == 200 and got.json()["name"] == name
            versions = call(again, "GET", f"/pipelines/{pipeline_id}/versions").json()
            assert versions["total_size"] == 1
        assert call(again, "GET", f"/experiments/{exp['experiment_id']}").status_code == 200
    finally:
        again.stop()
    assert not (tmp_path / "data" / "stack.json").exists(), "a clean stop removes stack.json"


def test_cli_tokens_create_list_revoke(stack_factory, tmp_path):
    data = tmp_path / "cli-data"
    created = cli(
        "stack",
        "token",
        "create",
        "--data-dir",
        str(data),
        "--subject",
        "carol",
        "--namespace",
        "team-c:edit",
        "--shared",
        "view",
    )
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token and "\n" not in token, "create prints the token and nothing else"
    listed = cli("stack", "token", "list", "--data-dir", str(data), "--json")
    infos = json.loads(listed.stdout)
    carol = next(i for i in infos if i["subject"] == "carol")
    assert carol["namespaces"] == {"team-c": "edit"} and carol["shared"] == "view"
    assert token not in listed.stdout
    assert any(i["default"] for i in infos)
    human = cli("stack", "token", "list", "--data-dir", str(data)).stdout
    assert (data / "token").read_text().strip() in human, "list prints the default token"

    handle = stack_factory(data_dir=data)
    assert call(handle, "GET", "/pipelines", token, params={"namespace": "team-c"}).ok
    revoked = cli("stack", "token", "revoke", "--data-dir", str(data), carol["token_id"])
    assert revoked.returncode == 0, revoked.stderr
    assert_kfp_error(call(handle, "GET", "/pipelines", token), 401)
    twice = cli("stack", "token", "revoke", "--data-dir", str(data), carol["token_id"])
    assert twice.returncode == 1 and "no active token" in twice.stderr


def test_cli_rejects_bad_roles(tmp_path):
    result = cli(
        "stack",
        "token",
        "create",
        "--data-dir",
        str(tmp_path / "d"),
        "--subject",
        "x",
        "--namespace",
        "team:admin",
    )
    assert result.returncode != 0 and "NS:view or NS:edit" in result.stderr


def test_serve_writes_stack_json_and_prints_the_url(tmp_path):
    data = tmp_path / "served"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter_dsp",
            "stack",
            "serve",
            "--data-dir",
            str(data),
            "--port",
            "0",
            "--single-user",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        url = process.stdout.readline().strip()
        state = json.loads((data / "stack.json").read_text())
        assert state["url"] == url and state["pid"] == process.pid
        assert url.startswith("http://127.0.0.1:")
        health = requests.get(f"{url}/apis/v2beta1/healthz", timeout=10).json()
        assert health["multi_user"] is False
        assert oct((data).stat().st_mode & 0o777) == oct(0o700)
        assert oct((data / "token").stat().st_mode & 0o777) == oct(0o600)
    finally:
        process.terminate()
        assert process.wait(20) == 0


def test_a_data_dir_is_served_by_one_stack_at_a_time(stack_factory, tmp_path):
    first = stack_factory(data_dir=tmp_path / "shared-dir")
    second = cli("stack", "serve", "--data-dir", str(tmp_path / "shared-dir"))
    assert second.returncode == 1
    assert "another stack already serves" in second.stderr and first.url in second.stderr
    assert requests.get(f"{first.url}/apis/v2beta1/healthz", timeout=10).ok
