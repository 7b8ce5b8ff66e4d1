"""A notebook step's cost over the same code as a Python component, on the embedded stack.

Two one-step pipelines doing the same work (write a CSV of ``rows`` rows and return how many):
one a lightweight Python component, one a notebook made a component with
``jupyter_dsp.notebook_component`` (its kernel's start, the notebook's execution and its
HTML rendering included). Runs alternate between the two on one stack with the step cache off,
after one warm-up run each (the package environments are built once and reused), so both see
the same machine load. Per-step time = the task's own start to end, as the API reports it;
also the whole run, submit to final state.

Prints p50 of each and the notebook step's extra cost (target: under 1.5 s per step).

    python bench/notebook_step.py [--repeat 5]
"""

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests  # type: ignore[import-untyped]
from kfp import dsl  # type: ignore[import-untyped]

from jupyter_dsp import notebook_component
from jupyter_dsp.stack import start_stack
from jupyter_dsp.stack.runner.step_settings import StepSettings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from notebook_steps_helpers import make_notebook  # type: ignore[import-not-found]  # noqa: E402
from results_helpers import compile_to, start_run, wait_run  # type: ignore[import-not-found]  # noqa: E402

API = "/apis/v2beta1"


@dsl.component(base_image="python:3.11")
def write_rows(rows: int, data: dsl.Output[dsl.Dataset]) -> int:
    with open(data.path, "w") as f:
        f.write("i\n" + "".join(f"{i}\n" for i in range(rows)))
    return rows


@dsl.pipeline(name="bench-python-step")
def python_step(rows: int = 100) -> int:
    return write_rows(rows=rows).outputs["Output"]


def notebook_pipeline(directory: Path) -> object:
    path = make_notebook(
        directory / "write_rows.ipynb",
        [
            ("rows = 100", ["parameters"]),
            ("data: 'Dataset' = 'data.csv'\nwritten: int = 0", ["outputs"]),
            (
                "with open(data, 'w') as f:\n"
                "    f.write('i\\n' + ''.join(f'{i}\\n' for i in range(rows)))\n"
                "written = rows",
                None,
            ),
        ],
    )
    step = notebook_component(path)

    @dsl.pipeline(name="bench-notebook-step")
    def pipeline(rows: int = 100) -> None:
        step(rows=rows)

    return pipeline


PHASES = re.compile(
    r"notebook: prepared in ([\d.]+) s, kernel and cells ([\d.]+) s, "
    r"saved with its HTML in ([\d.]+) s"
)


def task_of(url: str, token: str, run_id: str) -> dict:
    tasks = requests.get(
        f"{url}{API}/runs/{run_id}", headers={"Authorization": f"Bearer {token}"}, timeout=60
    ).json()["run_details"]["task_details"]
    [task] = [t for t in tasks if t.get("child_tasks") is None and t.get("end_time")]
    return task


def task_seconds(task: dict) -> float:
    from datetime import datetime

    def parse(text: str) -> float:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()

    return parse(task["end_time"]) - parse(task["start_time"])


def step_phases(url: str, token: str, run_id: str, task: dict) -> tuple[float, ...] | None:
    """The notebook step's own account of its time, from its log line."""
    log = requests.get(
        f"{url}{API}/runs/{run_id}/tasks/{task['task_id']}/logs",
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    ).text
    found = PHASES.search(log)
    return tuple(float(x) for x in found.groups()) if found else None


def failed_logs(url: str, token: str, run: dict) -> str:
    """The logs of a run's failed tasks, to say why a bench run failed."""
    out = []
    for task in run.get("run_details", {}).get("task_details", []):
        if task.get("state") == "FAILED" and task.get("child_tasks") is None:
            out.append(
                requests.get(
                    f"{url}{API}/runs/{run['run_id']}/tasks/{task['task_id']}/logs",
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=60,
                ).text[-4000:]
            )
    return "\n".join(out) or str(run.get("error"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-nb-") as tmp:
        root = Path(tmp)
        handle = start_stack(
            root / "data", single_user=True, steps=StepSettings(step_caching=False)
        )
        token = handle.token
        try:
            specs = {
                "python": compile_to(python_step, root),
                "notebook": compile_to(notebook_pipeline(root), root),
            }
            for kind, spec in specs.items():  # warm-up: package environments built once
                run_id = start_run(handle.url, token, spec)
                run = wait_run(handle.url, token, run_id, 600)
                if run["state"] != "SUCCEEDED":
                    raise SystemExit(
                        f"{kind} warm-up: {run['state']}\n{failed_logs(handle.url, token, run)}"
                    )
            steps: dict[str, list[float]] = {"python": [], "notebook": []}
            whole: dict[str, list[float]] = {"python": [], "notebook": []}
            phases: list[tuple[float, ...]] = []
            for _ in range(args.repeat):
                for kind, spec in specs.items():
                    started = time.perf_counter()
                    run_id = start_run(handle.url, token, spec)
                    run = wait_run(handle.url, token, run_id, 600)
                    assert run["state"] == "SUCCEEDED", (kind, run.get("error"))
                    whole[kind].append(time.perf_counter() - started)
                    task = task_of(handle.url, token, run_id)
                    steps[kind].append(task_seconds(task))
                    if kind == "notebook":
                        found = step_phases(handle.url, token, run_id, task)
                        if found:
                            phases.append(found)
        finally:
            handle.stop()
    for kind in ("python", "notebook"):
        print(
            f"{kind:<9} step p50 {statistics.median(steps[kind]):6.2f} s   "
            f"run p50 {statistics.median(whole[kind]):6.2f} s   (n={args.repeat})"
        )
    extra = statistics.median(steps["notebook"]) - statistics.median(steps["python"])
    ratio = statistics.median(steps["notebook"]) / statistics.median(steps["python"])
    print(f"notebook step costs {extra:+.2f} s per step over the Python component ({ratio:.1f}x)")
    print(f"target: under 1.5 s per step: {'met' if extra < 1.5 else 'NOT met'}")
    if phases:
        prepared, cells, saved = (statistics.median(p[i] for p in phases) for i in range(3))
        print(
            f"the notebook step's own account, p50: prepared (imports, notebook) {prepared:.2f} s,"
            f" kernel start and cells {cells:.2f} s, saved with its HTML {saved:.2f} s"
        )


if __name__ == "__main__":
    main()
