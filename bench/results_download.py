"""A 100 MB artifact downloaded through the server extension, with the server's memory measured.

One run of ``big_artifact`` (tests/results_pipelines.py) on an embedded stack writes a
``size_mb`` MiB artifact of random bytes; then, side by side:

- direct from the stack's content endpoint (``/apis/v2beta1/artifacts/{id}/content``),
- through ``{base}dsp/artifacts/{run}/{artifact}`` of a Jupyter server (a separate process),
  read as fast as possible, and read by a slow client (``--slow-mbps``) so that any buffering
  in the server would show,
- a 10 MiB ``Range`` through the server,

each with the Jupyter server's RSS sampled every 2 ms (growth = peak - RSS before the
download), next to the artifact's size. Bytes are checked (SHA-256) against the file.

Usage:  PYTHONPATH=. python bench/results_download.py [--size-mb 100] [--slow-mbps 40]
Target (issue 17): the server's RSS growth stays bounded (a few MB, not the artifact's size).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from proxy_latency import JupyterServer, RssSampler  # noqa: E402
from results_helpers import compile_to, start_run, wait_run  # noqa: E402
from results_pipelines import big_artifact  # noqa: E402

from jupyter_dsp.stack import start_stack  # noqa: E402

CHUNK = 1024 * 1024


def download(
    url: str, headers: dict[str, str], pid: int | None, slow_mbps: float | None = None
) -> dict[str, Any]:
    digest = hashlib.sha256()
    size = 0
    sampler = RssSampler(pid) if pid else None
    t0 = time.perf_counter()
    if sampler:
        sampler.__enter__()
    try:
        with requests.get(url, headers=headers, stream=True, timeout=600) as r:
            if r.status_code not in (200, 206):
                raise RuntimeError(f"{r.status_code}: {r.text[:200]}")
            for chunk in r.iter_content(CHUNK):
                digest.update(chunk)
                size += len(chunk)
                if slow_mbps:
                    ahead = size / (slow_mbps * 1e6) - (time.perf_counter() - t0)
                    if ahead > 0:
                        time.sleep(ahead)
    finally:
        if sampler:
            sampler.__exit__()
    elapsed = time.perf_counter() - t0
    return {
        "bytes": size,
        "seconds": elapsed,
        "mb_s": size / 1e6 / elapsed,
        "sha256": digest.hexdigest(),
        "rss_growth_mb": sampler.growth_mb if sampler else None,
        "rss_before_mb": sampler.baseline / 1e6 if sampler else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size-mb", type=int, default=100)
    ap.add_argument("--slow-mbps", type=float, default=40.0)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="dsp-bench-") as tmp:
        root = Path(tmp)
        stack = start_stack(root / "stack")
        server = None
        try:
            spec = compile_to(big_artifact, root)
            t0 = time.perf_counter()
            run_id = start_run(stack.url, stack.token, spec, params={"size_mb": args.size_mb})
            state = wait_run(stack.url, stack.token, run_id, timeout=900)["state"]
            print(f"run {run_id}: {state} in {time.perf_counter() - t0:.1f} s")
            token_file = root / "stack-token"
            token_file.write_text(stack.token)
            server = JupyterServer(root, stack.url, token_file)
            jh = {"Authorization": f"token {server.token}"}
            doc = requests.get(f"{server.base}dsp/results/{run_id}", headers=jh, timeout=60).json()
            [task] = doc["tasks"]
            [blob] = task["outputs"]["artifacts"]["blob"]
            aid, size = blob["artifact_id"], blob["size"]
            on_disk = Path(blob["uri"])
            expected = hashlib.sha256(on_disk.read_bytes()).hexdigest()
            print(f"artifact {aid}: {size / 1e6:.1f} MB ({size} bytes) at {on_disk}")

            direct = download(
                f"{stack.url}/apis/v2beta1/artifacts/{aid}/content",
                {"Authorization": f"Bearer {stack.token}"},
                None,
            )
            via = f"{server.base}dsp/artifacts/{run_id}/{aid}"
            proxied = download(via, jh, server.proc.pid)
            slow = download(via, jh, server.proc.pid, args.slow_mbps)
            ranged = download(via, {**jh, "Range": f"bytes=0-{10 * CHUNK - 1}"}, server.proc.pid)
            part = hashlib.sha256(on_disk.read_bytes()[: 10 * CHUNK]).hexdigest()
            rss_now = psutil.Process(server.proc.pid).memory_info().rss / 1e6
        finally:
            if server is not None:
                server.stop()
            stack.stop()

    print()
    print(
        f"| download ({size / 1e6:.1f} MB artifact) | MB/s | seconds | bytes ok "
        "| Jupyter RSS before MB | RSS growth MB | growth / artifact size |"
    )
    print("|---|---|---|---|---|---|---|")
    rows = [
        ("direct from the stack", direct, expected),
        ("through dsp/artifacts", proxied, expected),
        (f"through dsp/artifacts, client at {args.slow_mbps:g} MB/s", slow, expected),
        ("through dsp/artifacts, Range 10 MiB", ranged, part),
    ]
    for label, fig, want in rows:
        ok = "yes" if fig["sha256"] == want else "NO"
        if fig["rss_growth_mb"] is None:
            print(f"| {label} | {fig['mb_s']:.0f} | {fig['seconds']:.2f} | {ok} | – | – | – |")
            continue
        ratio = fig["rss_growth_mb"] / (fig["bytes"] / 1e6)
        print(
            f"| {label} | {fig['mb_s']:.0f} | {fig['seconds']:.2f} | {ok} "
            f"| {fig['rss_before_mb']:.1f} | {fig['rss_growth_mb']:.1f} | {ratio:.3f} |"
        )
    print(
        f"\nthrough the server / direct: {proxied['mb_s'] / direct['mb_s']:.2f}x the throughput;"
        f" Jupyter server RSS after all downloads {rss_now:.1f} MB"
    )


if __name__ == "__main__":
    main()
