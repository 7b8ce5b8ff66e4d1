"""The step sandbox's cost per step: a one-step run with and without it, interleaved.

Two run engines in this one process, identical but for the sandbox: ``sandboxed`` (the
stack's default: bubblewrap, as the namespace's uid when run as root, or in a user namespace
when not) and ``plain`` (its ``bwrap`` setting names a missing program: steps run as plain
processes, as root when run as root). Runs of the same one-step pipeline alternate between
them, so both see the same machine load. Per-step cost = the task's own time (start to end,
as the API reports it). Also the launch alone: ``StepLauncher.run(["true"])`` with and
without the sandbox, alternated.

Prints p50/p95 of each and the differences (target: the sandbox adds under 50 ms per step).

    python bench/sandbox_cost.py [--repeat 15] [--launches 40]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from kfp import compiler  # type: ignore[import-untyped]

from jupyter_dsp.stack.runner import RunEngine, load_pipeline_document, resolve_parameters
from jupyter_dsp.stack.runner.launch import StepLauncher

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from sample_pipelines import adder  # type: ignore[import-not-found]  # noqa: E402

MISSING = "/nonexistent/bwrap"


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def line(label: str, values: list[float]) -> str:
    return f"{label:<12} p50 {statistics.median(values):7.1f} ms   p95 {p95(values):7.1f} ms"


def step_ms(engine: RunEngine, run_id: str, doc, params) -> float:
    engine.submit(run_id, doc, params)
    snap = engine.wait(run_id, timeout=300)
    assert snap is not None and snap.state == "SUCCEEDED", snap and snap.error
    [task] = [t for t in snap.tasks.values() if t.end_time]
    assert not task.cached
    return (task.end_time - task.start_time) / 1000.0


def launch_ms(launcher: StepLauncher, log: Path) -> float:
    started = time.perf_counter()
    assert launcher.run(["true"], log, {}) == 0, log.read_text()[-500:]
    return (time.perf_counter() - started) * 1000.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--launches", type=int, default=40)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="dsp-sandbox-cost-"))
    package = root / "adder.yaml"
    compiler.Compiler().compile(adder, str(package))
    doc = load_pipeline_document(package.read_text())
    params = resolve_parameters(doc.root_parameters(), {"a": 1})
    uncached = {"step_caching": False}  # every run runs its step
    engines = {
        "sandboxed": RunEngine(root / "a" / "runs", max_workers=1, settings=uncached),
        "plain": RunEngine(
            root / "b" / "runs", max_workers=1, settings={**uncached, "bwrap": MISSING}
        ),
    }
    launchers = {
        "sandboxed": StepLauncher("l1", root / "c" / "runs" / "l1", root / "c"),
        "plain": StepLauncher("l2", root / "d" / "runs" / "l2", root / "d", bwrap=MISSING),
    }
    steps: dict[str, list[float]] = {k: [] for k in engines}
    launches: dict[str, list[float]] = {k: [] for k in engines}
    try:
        for name, engine in engines.items():  # warm-up: imports, page cache
            step_ms(engine, f"warm-{name}", doc, params)
        for i in range(args.repeat):
            for name in ("sandboxed", "plain") if i % 2 else ("plain", "sandboxed"):
                steps[name].append(step_ms(engines[name], f"r{i}-{name}", doc, params))
        for i in range(args.launches):
            for name in ("sandboxed", "plain") if i % 2 else ("plain", "sandboxed"):
                launches[name].append(launch_ms(launchers[name], root / f"{name}.log"))
    finally:
        for engine in engines.values():
            engine.shutdown()
    who = "root (bwrap as root, setpriv to the step uid)" if os.geteuid() == 0 else "non-root"
    print(f"as {who}; {args.repeat} one-step runs and {args.launches} launches per side")
    print("one-step run, the task's own time:")
    for name in engines:
        print("  " + line(name, steps[name]))
    d50 = statistics.median(steps["sandboxed"]) - statistics.median(steps["plain"])
    d95 = p95(steps["sandboxed"]) - p95(steps["plain"])
    print(f"  sandbox adds  p50 {d50:+7.1f} ms   p95 {d95:+7.1f} ms   (target < 50 ms)")
    print("launch of `true` alone (StepLauncher.run):")
    for name in launches:
        print("  " + line(name, launches[name]))
    l50 = statistics.median(launches["sandboxed"]) - statistics.median(launches["plain"])
    l95 = p95(launches["sandboxed"]) - p95(launches["plain"])
    print(f"  sandbox adds  p50 {l50:+7.1f} ms   p95 {l95:+7.1f} ms")


if __name__ == "__main__":
    main()
