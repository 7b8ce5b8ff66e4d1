"""Steps with packages and cached steps: the embedded stack vs kfp.local's own ``use_venv``.

Same compiled spec for both (a step with ``packages_to_install``, compiled here):

- stack: a fresh embedded stack (empty environment cache, empty step cache) runs it through
  ``kfp.Client`` twice with caching off. The first run builds the step's uv environment, the
  second reuses it. Timed from create-run to SUCCEEDED.
- kfp.local: a fresh ``python`` process runs the same spec with
  ``kfp.local.SubprocessRunner(use_venv=True)`` twice: each execution makes a new virtualenv
  and pip-installs kfp and the packages into it (kfp.local's own behaviour).
- caching: on the stack, a 3-step pipeline (a packages step, a 1 s compute step, a consumer)
  run with caching off vs the same arguments again with caching on after a first cached run
  (every step CACHED).

Prints each figure and the ratios. Uses PyPI (through whatever index pip/uv are set up for).

    python bench/local_envs.py [--packages pyjokes==0.8.3 art==6.5]
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import kfp
from kfp import compiler, dsl

from jupyter_dsp.stack import start_stack

PACKAGES = ["pyjokes==0.8.3", "art==6.5"]

DIRECT = """
import sys, time
from kfp import components, local
local.init(runner=local.SubprocessRunner(use_venv=True), pipeline_root=sys.argv[2])
for attempt in (1, 2):
    started = time.perf_counter()
    components.load_component_from_file(sys.argv[1])(seed=attempt)
    print("RUN", attempt, time.perf_counter() - started, flush=True)
"""


def build_pipelines(packages: list[str], out: Path) -> tuple[Path, Path]:
    @dsl.component(base_image="python:3.11", packages_to_install=packages)
    def with_packages(seed: int) -> str:
        from importlib.metadata import version

        return f"{version('pyjokes')}:{seed}"

    @dsl.component(base_image="python:3.11")
    def compute(text: str) -> int:
        import time

        time.sleep(1.0)  # stands for real work
        return len(text)

    @dsl.component(base_image="python:3.11")
    def report(n: int, text: str) -> str:
        return f"{text} ({n})"

    @dsl.pipeline(name="packages-step")
    def packages_step(seed: int = 1) -> str:
        return with_packages(seed=seed).output

    @dsl.pipeline(name="three-steps")
    def three_steps(seed: int = 1) -> str:
        made = with_packages(seed=seed)
        size = compute(text=made.output)
        return report(n=size.output, text=made.output).output

    one = out / "packages_step.yaml"
    three = out / "three_steps.yaml"
    compiler.Compiler().compile(packages_step, str(one))
    compiler.Compiler().compile(three_steps, str(three))
    return one, three


def stack_run(client: kfp.Client, package: Path, args: dict, caching: bool) -> tuple[float, dict]:
    started = time.perf_counter()
    created = client.create_run_from_pipeline_package(
        str(package), arguments=args, enable_caching=caching, namespace="default"
    )
    run = client.wait_for_run_completion(created.run_id, timeout=900, sleep_duration=0.05)
    elapsed = time.perf_counter() - started
    assert run.state == "SUCCEEDED", run.error
    states = [t.state for t in run.run_details.task_details if t.display_name != "root"]
    return elapsed, {"states": states}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", nargs="+", default=PACKAGES)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-envs-") as tmp:
        work = Path(tmp)
        one, three = build_pipelines(args.packages, work)
        print(f"packages: {' '.join(args.packages)}; kfp {kfp.__version__}")

        handle = start_stack(work / "stack")
        try:
            client = kfp.Client(host=handle.url, existing_token=handle.token)
            s1, _ = stack_run(client, one, {"seed": 1}, caching=False)
            s2, _ = stack_run(client, one, {"seed": 2}, caching=False)
            uncached, info_u = stack_run(client, three, {"seed": 5}, caching=False)
            stack_run(client, three, {"seed": 6}, caching=True)  # fills the cache
            cached, info_c = stack_run(client, three, {"seed": 6}, caching=True)
        finally:
            handle.stop()

        done = subprocess.run(
            [sys.executable, "-c", DIRECT, str(one), str(work / "kfp-local")],
            capture_output=True,
            text=True,
            timeout=1800,
        )
        runs = {
            int(line.split()[1]): float(line.split()[2])
            for line in done.stdout.splitlines()
            if line.startswith("RUN ")
        }
        if done.returncode != 0 or len(runs) != 2:
            print(done.stdout[-2000:], done.stderr[-2000:])
            raise SystemExit("kfp.local use_venv=True did not finish")
        k1, k2 = runs[1], runs[2]

    print()
    print("| packages pipeline (1 step) | embedded stack (uv env) | kfp.local use_venv=True |")
    print("|---|---|---|")
    print(f"| first run (env build) | {s1:.2f} s | {k1:.2f} s |")
    print(f"| second run | {s2:.2f} s (reuses the env) | {k2:.2f} s (new venv, pip again) |")
    print()
    print(f"stack second/first: {s2 / s1:.2f}x; kfp.local second/first: {k2 / k1:.2f}x")
    print(
        f"stack vs kfp.local, first run: {k1 / s1:.1f}x faster; second run: {k2 / s2:.1f}x faster"
    )
    print()
    print("| 3-step pipeline on the stack | time | task states |")
    print("|---|---|---|")
    print(f"| caching off | {uncached:.2f} s | {', '.join(info_u['states'])} |")
    print(f"| cached rerun | {cached:.2f} s | {', '.join(info_c['states'])} |")
    print(f"\ncached/uncached: {cached / uncached:.2f}x ({uncached / cached:.1f}x faster)")


if __name__ == "__main__":
    main()
