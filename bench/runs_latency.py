"""Run latency: create-run -> SUCCEEDED through the embedded stack's engine vs kfp.local.

The stack's engine walks the compiled spec itself and launches each step as KFP's launcher
does (isolated as another user when run as root); kfp.local is the SDK's own local runner.

For a 1-step and a 5-step pipeline (compiled here with the installed kfp):

- direct: a fresh ``python`` process that loads the same compiled spec and runs it with
  ``kfp.local`` (SubprocessRunner, use_venv=False), timed from spawn to exit. The steps'
  ``pip install 'kfp==X'`` prologue is removed first, as the stack does: executed as is it
  would reinstall kfp into this environment.
- stack: ``POST /apis/v2beta1/runs`` (pipeline version reference) on a running embedded
  stack, then ``GET`` every 10 ms until the run is SUCCEEDED.

Prints the medians side by side, the ratio stack/direct (target <= 1.3) and the median
latency of the create-run call itself (target < 50 ms). Runs alternate direct/stack so that
both see the same machine load.

    python bench/runs_latency.py [--repeat 7]
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
import yaml
from kfp import compiler, dsl

from jupyter_dsp.stack import start_stack
from jupyter_dsp.stack.runner.prologue import without_prologues
from jupyter_dsp.stack.runner.spec import load_pipeline_document
from jupyter_dsp.stack.runner.step_settings import StepSettings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from sample_pipelines import sleepy  # noqa: E402  (shared with the run tests)

# Only kfp in the direct process; the spec it loads was stripped of its prologue beforehand.
DIRECT = """
import sys
from kfp import components, local
local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=sys.argv[2])
components.load_component_from_file(sys.argv[1])()
"""


@dsl.component(base_image="python:3.11")
def step(x: int) -> int:
    return x + 1


@dsl.pipeline(name="one-step")
def one_step() -> int:
    return step(x=0).output


@dsl.pipeline(name="five-steps")
def five_steps() -> int:
    value = step(x=0).output
    for _ in range(4):
        value = step(x=value).output
    return value


def stripped_copy(package: Path) -> Path:
    """The compiled spec without its pip prologue (executed as is, it would reinstall kfp)."""
    doc = load_pipeline_document(package.read_text())
    path = package.with_suffix(".local.yaml")
    path.write_text(yaml.safe_dump(without_prologues(doc.pipeline_spec)))
    return path


def direct_run(package: Path, root: Path) -> float:
    """Seconds for a fresh process to run ``package`` (already stripped) with kfp.local."""
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", DIRECT, str(package), str(root)],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def stack_run(session: requests.Session, url: str, body: dict) -> tuple[float, float]:
    start = time.perf_counter()
    response = session.post(f"{url}/apis/v2beta1/runs", json=body, timeout=30)
    created = time.perf_counter() - start
    response.raise_for_status()
    run_id = response.json()["run_id"]
    while True:
        state = session.get(f"{url}/apis/v2beta1/runs/{run_id}", timeout=30).json()["state"]
        if state == "SUCCEEDED":
            return time.perf_counter() - start, created
        if state in ("FAILED", "CANCELED"):
            raise RuntimeError(f"run {run_id} ended {state}")
        time.sleep(0.01)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def terminate_time(session: requests.Session, url: str, body: dict, pid_file: Path) -> float:
    """Seconds from the terminate call until the step's child process is gone."""
    run_id = session.post(f"{url}/apis/v2beta1/runs", json=body, timeout=30).json()["run_id"]
    deadline = time.monotonic() + 60
    while not (pid_file.exists() and pid_file.read_text().endswith("\n")):
        if time.monotonic() > deadline:
            raise RuntimeError("the sleeper did not start")
        time.sleep(0.02)
    child = int(pid_file.read_text())
    start = time.perf_counter()
    session.post(f"{url}/apis/v2beta1/runs/{run_id}:terminate", timeout=30).raise_for_status()
    while _alive(child):
        time.sleep(0.005)
    gone = time.perf_counter() - start
    run_url = f"{url}/apis/v2beta1/runs/{run_id}"
    while session.get(run_url, timeout=30).json()["state"] != "CANCELED":
        time.sleep(0.01)
    return gone


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        packages = {}
        for pipeline in (one_step, five_steps):
            packages[pipeline.name] = tmp / f"{pipeline.name}.yaml"
            compiler.Compiler().compile(pipeline, str(packages[pipeline.name]))
        # caching off: every run executes its steps, as kfp.local does (cached runs: below)
        handle = start_stack(tmp / "stack", steps=StepSettings(step_caching=False))
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {handle.token}"
        try:
            bodies = {}
            for name, package in packages.items():
                with open(package, "rb") as f:
                    up = session.post(
                        f"{handle.url}/apis/v2beta1/pipelines/upload",
                        params={"name": name, "namespace": "default"},
                        files={"uploadfile": (package.name, f)},
                    )
                up.raise_for_status()
                bodies[name] = {
                    "display_name": f"bench-{name}",
                    "pipeline_version_reference": {"pipeline_id": up.json()["pipeline_id"]},
                }
            stack_run(session, handle.url, bodies["one-step"])  # warm-up
            local_packages = {name: stripped_copy(p) for name, p in packages.items()}
            direct_run(local_packages["one-step"], tmp / "warm")
            creates: list[float] = []
            print(f"{'pipeline':<12}{'kfp.local (s)':>14}{'stack engine (s)':>18}{'ratio':>8}")
            for name in packages:
                direct, through_stack = [], []
                for i in range(args.repeat):
                    direct.append(direct_run(local_packages[name], tmp / f"direct-{name}-{i}"))
                    total, created = stack_run(session, handle.url, bodies[name])
                    through_stack.append(total)
                    creates.append(created)
                d, s = statistics.median(direct), statistics.median(through_stack)
                print(f"{name:<12}{d:>14.3f}{s:>18.3f}{s / d:>8.2f}")
            cached_stack = start_stack(tmp / "cached-stack")
            cached_session = requests.Session()
            cached_session.headers["Authorization"] = f"Bearer {cached_stack.token}"
            try:
                inline = {
                    "display_name": "bench-cached",
                    "pipeline_spec": yaml.safe_load(packages["five-steps"].read_text()),
                }
                uncached, _ = stack_run(cached_session, cached_stack.url, inline)
                cached = [
                    stack_run(cached_session, cached_stack.url, inline)[0]
                    for _ in range(args.repeat)
                ]
            finally:
                cached_stack.stop()
            c = statistics.median(cached)
            print(
                f"five-steps with the step cache: first run {uncached:.3f} s, cached runs median"
                f" {c:.3f} s (ratio {c / uncached:.2f})"
            )
            sleepy_package = tmp / "sleepy.yaml"
            compiler.Compiler().compile(sleepy, str(sleepy_package))
            stops = []
            exchange = Path(tempfile.mkdtemp(prefix="dsp-bench-pids-", dir="/var/tmp"))
            exchange.chmod(0o1777)  # the step may run as another user (stack run as root)
            for i in range(3):
                pid_file = exchange / f"sleeper-{i}.pid"
                stops.append(
                    terminate_time(
                        session,
                        handle.url,
                        {
                            "display_name": "bench-terminate",
                            "pipeline_spec": yaml.safe_load(sleepy_package.read_text()),
                            "runtime_config": {"parameters": {"pid_file": str(pid_file)}},
                        },
                        pid_file,
                    )
                )
            print(
                f"terminate -> process tree gone: max {max(stops):.2f} s over {len(stops)}"
                " runs (target: within 2 s)"
            )
            print(
                f"create-run call: median {statistics.median(creates) * 1000:.1f} ms,"
                f" max {max(creates) * 1000:.1f} ms over {len(creates)} calls"
                " (targets: ratio <= 1.3, create < 50 ms)"
            )
        finally:
            handle.stop()


if __name__ == "__main__":
    main()
