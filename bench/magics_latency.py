"""Latency of `%dsp upload` and `%dsp run` against the same calls made with a bare kfp.Client.

Starts an embedded stack on loopback and times, interleaved, each magic next to the bare
kfp.Client calls that give the same result (what a user of kfp.Client has to write):

- upload, new name:    `%dsp upload p.yaml --name N`    vs  look N up in the namespace
                        (none) + Client.upload_pipeline + newest version (the magic returns it);
                        also shown: Client.upload_pipeline alone ("single call", which neither
                        handles an existing name nor returns the version)
- upload, new version: `%dsp upload p.yaml --name N`    vs  look N up + upload_pipeline_version
- run by name:         `%dsp run N -p a=1`              vs  look N up + newest version
                                                              + Client.run_pipeline
- run, ids known:      `%dsp run <version variable>`    vs  Client.run_pipeline(ids known)

("look up" = list_pipelines filtered by name in the namespace: kfp.Client.get_pipeline_id only
sees shared pipelines.) The magic goes through a real IPython InteractiveShell. Prints medians
(and p90) and the ratio of medians (target: at most 1.2).

Usage: python bench/magics_latency.py [-n 30] [--no-run]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import sys
import tempfile
import textwrap
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

PIPELINE = textwrap.dedent(
    """
    from kfp import dsl

    @dsl.component(base_image="python:3.11")
    def add(a: int, b: float) -> float:
        return a + b

    @dsl.pipeline(name="bench-pipeline")
    def pipeline(a: int, b: float = 0.5):
        add(a=a, b=b)
    """
)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink):  # kfp.Client prints links; keep both sides quiet
        start = time.perf_counter()
        result = fn()
        return time.perf_counter() - start, result


def _p90(xs: list[float]) -> float:
    return sorted(xs)[max(0, int(round(0.9 * len(xs))) - 1)]


def compare(
    label: str,
    ours: Callable[[int], Any],
    same: Callable[[int], Any],
    n: int,
    single: Callable[[int], Any] | None = None,
    settle: Callable[[Any], Any] | None = None,
) -> dict:
    """Interleaved timings: the magic, bare kfp.Client calls giving the same result, and
    (optionally) the single bare call that does less. ``settle(result)`` runs untimed after
    each call (e.g. wait for the started run to end, so runs do not pile up on the CPUs)."""
    sides = {"magic": ours, "same": same} | ({"single": single} if single else {})
    settle = settle or (lambda result: None)
    for i in range(2):  # warm-up: connections, caches, imports
        for fn in sides.values():
            settle(timed(lambda fn=fn, i=i: fn(-1 - i))[1])
    times: dict[str, list[float]] = {k: [] for k in sides}
    for i in range(n):
        for key, fn in sides.items():
            elapsed, result = timed(lambda fn=fn, i=i: fn(i))
            times[key].append(elapsed)
            settle(result)
    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    row = {"case": label, "ratio": med["magic"] / med["same"]}
    text = (
        f"{label:21} %dsp {med['magic']:6.1f} ms (p90 {_p90(times['magic']) * 1000:5.1f})  "
        f"kfp same result {med['same']:6.1f} ms (p90 {_p90(times['same']) * 1000:5.1f})  "
        f"ratio {row['ratio']:.2f}"
    )
    if single:
        row["ratio_single"] = med["magic"] / med["single"]
        text += f"  | kfp single call {med['single']:6.1f} ms  ratio {row['ratio_single']:.2f}"
    print(text, flush=True)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=30, help="timed calls per side and case")
    parser.add_argument("--no-run", action="store_true", help="skip the run cases")
    opts = parser.parse_args()
    warnings.simplefilter("ignore")

    import kfp
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    from jupyter_dsp.client import compile_source
    from jupyter_dsp.stack import start_stack

    work = Path(tempfile.mkdtemp(prefix="dsp-bench-"))
    (work / "p.py").write_text(PIPELINE)
    package = work / "p.yaml"
    compile_source(str(work / "p.py"), package)
    stack = start_stack(work / "stack")
    try:
        config = Config()
        config.HistoryManager.enabled = False
        shell = InteractiveShell.instance(config=config)
        shell.run_line_magic("load_ext", "jupyter_dsp")
        token_file = stack.data_dir / "token"
        shell.run_line_magic(
            "dsp", f"connect --endpoint {stack.url} --token-file {token_file} --namespace default"
        )
        bare = kfp.Client(host=stack.url, existing_token=stack.token, namespace="default")
        magic = shell.find_line_magic("dsp")

        def lookup(name: str) -> str:
            """Pipeline id by name in the namespace (get_pipeline_id only sees shared ones)."""
            predicate = {"key": "display_name", "operation": "EQUALS", "string_value": name}
            found = bare.list_pipelines(
                namespace="default", filter=json.dumps({"predicates": [predicate]})
            )
            return found.pipelines[0].pipeline_id

        print(f"stack {stack.url}; {opts.n} timed calls per side (interleaved), medians\n")

        def newest(pipeline_id: str) -> Any:
            return bare.list_pipeline_versions(
                pipeline_id, page_size=1, sort_by="created_at desc"
            ).pipeline_versions[0]

        def bare_upload_same(i: int) -> None:
            name = f"bare-{i}"
            predicate = {"key": "display_name", "operation": "EQUALS", "string_value": name}
            found = bare.list_pipelines(
                namespace="default", filter=json.dumps({"predicates": [predicate]})
            )
            assert not found.pipelines
            pipeline = bare.upload_pipeline(str(package), pipeline_name=name, namespace="default")
            newest(pipeline.pipeline_id)

        rows = [
            compare(
                "upload (new name)",
                lambda i: magic(f"upload {package} --name magic-{i}"),
                bare_upload_same,
                opts.n,
                single=lambda i: bare.upload_pipeline(
                    str(package), pipeline_name=f"single-{i}", namespace="default"
                ),
            ),
            compare(
                "upload (new version)",
                lambda i: magic(f"upload {package} --name magic-0 --version v{i}"),
                lambda i: bare.upload_pipeline_version(
                    str(package), pipeline_version_name=f"v{i}", pipeline_id=lookup("bare-0")
                ),
                opts.n,
            ),
        ]
        if not opts.no_run:
            shell.user_ns["latest"] = magic("versions magic-0")[0]
            pid = lookup("bare-0")
            with contextlib.redirect_stdout(io.StringIO()):
                exp = bare.create_experiment("Default", namespace="default").experiment_id

            def settle(result: Any) -> None:
                run_id = getattr(result, "run_id", None) or result.id
                bare.wait_for_run_completion(run_id, timeout=300, sleep_duration=0.1)

            def bare_by_name(i: int) -> Any:
                pipeline_id = lookup("bare-0")
                version = newest(pipeline_id)
                return bare.run_pipeline(
                    exp,
                    f"bare {i}",
                    pipeline_id=pipeline_id,
                    version_id=version.pipeline_version_id,
                    params={"a": 1},
                )

            vid = (
                bare.list_pipeline_versions(pid, page_size=1, sort_by="created_at desc")
                .pipeline_versions[0]
                .pipeline_version_id
            )
            rows.append(
                compare(
                    "run (by name)",
                    lambda i: magic(f"run magic-0 -p a=1 --name magic-{i}"),
                    bare_by_name,
                    opts.n,
                    settle=settle,
                )
            )
            rows.append(
                compare(
                    "run (ids known)",
                    lambda i: magic(f"run latest -p a=1 --name magic-{i}"),
                    lambda i: bare.run_pipeline(
                        exp, f"bare {i}", pipeline_id=pid, version_id=vid, params={"a": 1}
                    ),
                    opts.n,
                    settle=settle,
                )
            )
        worst = max(r["ratio"] for r in rows)
        print(f"\nworst ratio {worst:.2f} (target <= 1.20): {'OK' if worst <= 1.2 else 'OVER'}")
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
