"""Steps try to escape their sandbox, as an attacker's pipeline would (issue 20).

Each test runs on two stacks: a multi-user stack run as root with the identities ``alice``
(team-a) and ``bob`` (other), where every step runs as its namespace's own uid in a
bubblewrap sandbox; and a single-user stack run as an ordinary uid, whose steps run as that
uid in bubblewrap's user namespace. On both, a step cannot read the stack's data dir
(database, token, logs) or another run, nor ``/etc/shadow``; cannot see another step's
processes or its secret parameter in ``/proc``; leaves no process behind; and gets its own
``/dev/shm`` and ``/var/tmp``. Needs root (to make the two stacks) and bubblewrap.
(No ``from __future__ import annotations``: kfp reads the components' annotations.)
"""

import json
import os
import shutil
import time
import uuid
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]
from kfp import compiler, dsl  # type: ignore[import-untyped]
from sandbox_stacks import (
    IDENTITIES,
    create_run,
    host_pids_of_uid,
    task_output,
    unprivileged_stack,
    wait_run,
)
from stack_http import call
from step_files import host_pids_with

from jupyter_dsp.stack.context import DB_FILE, TOKEN_FILE

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="making the two stacks needs root"),
    pytest.mark.skipif(not shutil.which("bwrap"), reason="bubblewrap (bwrap) is not installed"),
]


@dsl.component(base_image="python:3.11")
def snoop(targets: str) -> str:
    import json
    import os

    report: dict = {"uid": os.getuid()}
    for label, path in json.loads(targets).items():
        try:
            if os.path.isdir(path):
                report[label] = "listed: " + ",".join(sorted(os.listdir(path)))
            else:
                with open(path, "rb") as f:
                    report[label] = f"read {len(f.read())} bytes"
        except OSError as exc:
            report[label] = f"denied: {type(exc).__name__}"
    return json.dumps(report)


@dsl.pipeline(name="snoop")
def snoop_pipeline(targets: str) -> str:
    return snoop(targets=targets).output


@dsl.component(base_image="python:3.11")
def hold_secret(secret: str, seconds: int) -> str:
    import time

    print("holding the secret", len(secret), flush=True)
    time.sleep(seconds)
    return "held"


@dsl.pipeline(name="holder")
def holder_pipeline(secret: str, seconds: int) -> str:
    return hold_secret(secret=secret, seconds=seconds).output


@dsl.component(base_image="python:3.11")
def scan_proc(reversed_needle: str) -> str:
    import json
    import os

    needle = reversed_needle[::-1].encode()  # never in this step's own command line
    pids, found, uids = [], [], set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pids.append(int(entry))
        for name in ("cmdline", "environ"):
            try:
                with open(f"/proc/{entry}/{name}", "rb") as f:
                    if needle in f.read():
                        found.append(int(entry))
            except OSError:
                pass
        uids.add(os.stat(f"/proc/{entry}").st_uid)
    return json.dumps({"pids": pids, "found": found, "uids": sorted(uids)})


@dsl.pipeline(name="scanner")
def scanner_pipeline(reversed_needle: str) -> str:
    return scan_proc(reversed_needle=reversed_needle).output


@dsl.component(base_image="python:3.11")
def leave_daemons(beat: str) -> str:
    import os
    import subprocess
    import sys
    import time

    loop = (
        "import sys, time\nwhile True:\n    open(sys.argv[1], 'a').write('.')\n    time.sleep(0.2)"
    )
    subprocess.Popen(
        [sys.executable, "-c", loop, beat],
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    if os.fork() == 0:  # a double fork: orphaned, reparented to the namespace's init
        os.setsid()
        if os.fork() == 0:
            os.execv(sys.executable, [sys.executable, "-c", loop, beat + "2"])
        os._exit(0)
    time.sleep(0.6)
    return str(os.getuid())


@dsl.pipeline(name="daemons")
def daemons_pipeline(beat: str) -> str:
    return leave_daemons(beat=beat).output


@dsl.component(base_image="python:3.11")
def plant(name: str) -> str:
    for d in ("/dev/shm", "/var/tmp"):
        with open(f"{d}/{name}", "w") as f:
            f.write("planted")
    return "planted"


@dsl.component(base_image="python:3.11")
def peek(name: str, after: str) -> str:
    import os

    return ",".join(d for d in ("/dev/shm", "/var/tmp") if os.path.exists(f"{d}/{name}"))


@dsl.pipeline(name="plant-and-peek")
def plant_pipeline(name: str) -> str:
    planted = plant(name=name)
    return peek(name=name, after=planted.output).output


@pytest.fixture(scope="module")
def specs(tmp_path_factory):
    out = tmp_path_factory.mktemp("specs")
    made = {}
    for pipeline in (snoop_pipeline, holder_pipeline, scanner_pipeline, daemons_pipeline):
        path = out / f"{pipeline.name}.yaml"
        compiler.Compiler().compile(pipeline, str(path))
        made[pipeline.name] = yaml.safe_load(path.read_text())
    path = out / "plant.yaml"
    compiler.Compiler().compile(plant_pipeline, str(path))
    made["plant"] = yaml.safe_load(path.read_text())
    return made


class Site:
    """One stack and how its two users reach it (the same user on a single-user stack)."""

    def __init__(self, h, multi_user: bool) -> None:
        self.h, self.multi_user = h, multi_user
        tokens = getattr(h, "tokens", {})
        self.alice = (tokens.get("alice"), "team-a" if multi_user else "")
        self.bob = (tokens.get("bob"), "other" if multi_user else "")

    def run(self, who, spec, parameters, wait=True):
        token, namespace = who
        run_id = create_run(self.h, spec, parameters, token, namespace)
        return wait_run(self.h, run_id, token) if wait else run_id


@pytest.fixture(scope="module", params=["multi-user-root", "single-user-unprivileged"])
def site(request, tmp_path_factory):
    from jupyter_dsp.stack import start_stack

    data_dir = tmp_path_factory.mktemp("site") / "data"
    if request.param == "multi-user-root":
        h = start_stack(data_dir)
        h.tokens = {s: h.create_token(s, ns, sh) for s, (ns, sh) in IDENTITIES.items()}
    else:
        h = unprivileged_stack(data_dir)
    yield Site(h, request.param == "multi-user-root")
    h.stop()


def test_a_step_reads_nothing_of_the_stack_or_of_other_runs(site, specs):
    data_dir = site.h.data_dir
    bobs = site.run(site.bob, specs["snoop"], {"targets": "{}"})
    assert bobs["state"] == "SUCCEEDED", bobs.get("error")
    bob_dir = data_dir / "runs" / bobs["run_id"]
    targets = {
        "database": data_dir / DB_FILE,
        "token": data_dir / TOKEN_FILE,
        "data_dir": data_dir,
        "stack_state": data_dir / "stack.json",
        "other_run_log": bob_dir / "worker.log",
        "other_run_dir": bob_dir,
        "other_run_job": bob_dir / "job.json",
        "other_run_work": bob_dir / "work",
        "shadow": Path("/etc/shadow"),
        "root_home": Path("/root"),
    }
    for path in targets.values():
        assert path.exists(), path  # real targets
    run = site.run(
        site.alice, specs["snoop"], {"targets": json.dumps({k: str(v) for k, v in targets.items()})}
    )
    assert run["state"] == "SUCCEEDED", run.get("error")
    report = json.loads(task_output(run, "snoop"))
    if not site.multi_user:  # its own user: may list the empty cover, down to its own run
        assert report.pop("data_dir") in ("listed: runs", "denied: PermissionError")
    leaked = {k: v for k, v in report.items() if k != "uid" and not v.startswith("denied")}
    assert leaked == {}
    assert report["uid"] != 0
    if site.multi_user:  # users of different namespaces never share a uid
        assert report["uid"] != json.loads(task_output(bobs, "snoop"))["uid"]


def test_a_step_sees_no_other_steps_process_or_secret(site, specs):
    secret = "S3CR3T-" + uuid.uuid4().hex
    params = {"secret": secret, "seconds": 120}
    holder = site.run(site.bob, specs["holder"], params, wait=False)
    try:
        deadline = time.monotonic() + 90
        while not host_pids_with(secret.encode()) and time.monotonic() < deadline:
            time.sleep(0.2)
        state = call(site.h, "GET", f"/runs/{holder}", site.bob[0]).json()
        assert host_pids_with(secret.encode()), state  # it is there to find
        scan = site.run(site.alice, specs["scanner"], {"reversed_needle": secret[::-1]})
        assert scan["state"] == "SUCCEEDED", scan.get("error")
        report = json.loads(task_output(scan, "scan-proc"))
        assert report["found"] == []
        assert len(report["pids"]) <= 6, report  # its own namespace's few processes only
        assert call(site.h, "GET", f"/runs/{holder}", site.bob[0]).json()["state"] == "RUNNING"
    finally:
        call(site.h, "POST", f"/runs/{holder}:terminate", site.bob[0])
        wait_run(site.h, holder, site.bob[0])


def test_no_process_of_a_step_outlives_it(site, specs):
    beat = f"beat-{uuid.uuid4().hex[:8]}"  # relative: in the step's own work dir
    run = site.run(site.alice, specs["daemons"], {"beat": beat})
    assert run["state"] == "SUCCEEDED", run.get("error")
    work = site.h.data_dir / "runs" / run["run_id"] / "work"
    files = [work / beat, work / (beat + "2")]
    assert all(f.exists() and f.stat().st_size > 0 for f in files)  # the daemons did start
    time.sleep(0.5)
    sizes = [f.stat().st_size for f in files]
    time.sleep(1.2)
    assert [f.stat().st_size for f in files] == sizes  # nobody writes any more
    assert host_pids_with(beat.encode()) == []
    if site.multi_user:  # and nothing at all runs as the namespace's uid
        assert host_pids_of_uid(int(task_output(run, "leave-daemons"))) == []


def test_dev_shm_and_var_tmp_are_the_steps_own(site, specs):
    name = f"planted-{uuid.uuid4().hex[:8]}"
    run = site.run(site.alice, specs["plant"], {"name": name})
    assert run["state"] == "SUCCEEDED", run.get("error")
    assert task_output(run, "plant") == "planted"
    assert task_output(run, "peek") == ""  # the next step does not meet them
    assert not Path("/dev/shm", name).exists() and not Path("/var/tmp", name).exists()
