"""Latency and throughput of the jupyter-dsp proxy, side by side, in one run:

- direct to the embedded stack,
- through this extension's proxy  ({base_url}dsp/api/project/apis/v2beta1/...),
- through jupyter-server-proxy    ({base_url}proxy/127.0.0.1:PORT/apis/v2beta1/...),

for GET pipelines (a page of 20) and a 10 MB pipeline upload, all to the same stack, served
by one Jupyter server (both extensions enabled). Also the Jupyter server's RSS growth while
the 10 MB uploads pass through each proxy.

Usage:  PYTHONPATH=. python bench/proxy_latency.py [--rounds 5] [--requests 100] [--uploads 5]
Targets (issue 4): proxy p50 <= 1.2x direct, no slower than jupyter-server-proxy; memory
growth during the 10 MB upload < 2x the body.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psutil
import requests

from jupyter_dsp.stack import start_stack

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
HELLO = REFERENCE / "kfp-compiled-pipelines" / "valid" / "hello_world.yaml"
BODY_MB = 10


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def big_pipeline(path: Path, size: int) -> bytes:
    """hello_world.yaml padded with YAML comments to ``size`` bytes (valid, parses fast)."""
    base = HELLO.read_bytes()
    line = b"# " + b"x" * 1021 + b"\n"
    pad = line * ((size - len(base)) // len(line) + 1)
    data = (base + b"\n" + pad)[:size]
    data = data[: data.rfind(b"\n") + 1]
    path.write_bytes(data)
    return data


class JupyterServer:
    def __init__(self, root: Path, stack_url: str, token_file: Path) -> None:
        self.port = free_port()
        self.token = uuid.uuid4().hex
        self.base = f"http://127.0.0.1:{self.port}/"
        cfg = root / "config"
        cfg.mkdir()
        (cfg / "jupyter_server_config.json").write_text(
            json.dumps(
                {
                    "ServerApp": {
                        "jpserver_extensions": {"jupyter_dsp": True, "jupyter_server_proxy": True}
                    }
                }
            )
        )
        env = dict(os.environ)
        env.update(
            JUPYTER_CONFIG_DIR=str(cfg),
            JUPYTER_DATA_DIR=str(root / "data"),
            JUPYTER_RUNTIME_DIR=str(root / "runtime"),
            JUPYTER_DSP_ENDPOINT=stack_url,
            JUPYTER_DSP_TOKEN_FILE=str(token_file),
            JUPYTER_DSP_NAMESPACE="default",
            JUPYTER_DSP_SA_DIR=str(root / "no-sa"),
            PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[1])] + sys.path),
        )
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyter_server",
                f"--port={self.port}",
                "--ip=127.0.0.1",
                "--no-browser",
                "--allow-root",
                f"--IdentityProvider.token={self.token}",
                "--ServerApp.log_level=WARN",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(root / "server.log", "wb"),  # noqa: SIM115
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                r = requests.get(
                    self.base + "dsp/info", headers={"Authorization": f"token {self.token}"}
                )
                if r.status_code == 200 and r.json()["healthy"]:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"jupyter server did not start; see {root / 'server.log'}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class RssSampler:
    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.002)

    def __enter__(self) -> RssSampler:
        self.baseline = self.proc.memory_info().rss
        self.peak = self.baseline
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.baseline) / 1e6


def throughput(
    url: str, headers: dict[str, str], params: dict[str, object], clients: int, each: int
) -> float:
    """Requests per second with ``clients`` threads, each with its own keep-alive session."""
    errors: list[str] = []

    def worker() -> None:
        s = requests.Session()
        s.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        for _ in range(each):
            r = s.get(url, params=params, headers=headers)
            if r.status_code != 200:
                errors.append(f"{r.status_code} {r.text[:100]}")

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise RuntimeError(errors[0])
    return clients * each / elapsed


def summarize(samples: list[float]) -> dict[str, float]:
    samples = sorted(samples)
    p95 = samples[min(len(samples) - 1, int(round(0.95 * (len(samples) - 1))))]
    return {
        "p50_ms": statistics.median(samples) * 1000,
        "p95_ms": p95 * 1000,
        "rps": len(samples) / sum(samples),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--requests", type=int, default=100, help="GETs per target per round")
    ap.add_argument("--uploads", type=int, default=5, help="10 MB uploads per target")
    ap.add_argument("--clients", type=int, default=4, help="concurrent clients for req/s")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="dsp-bench-") as tmp:
        root = Path(tmp)
        stack = start_stack(root / "stack")
        server = None
        try:
            token_file = root / "stack-token"
            token_file.write_text(stack.token)
            token_file.chmod(0o600)
            stack_auth = {"Authorization": f"Bearer {stack.token}"}
            for i in range(25):  # so that a page of 20 is full
                with open(HELLO, "rb") as fh:
                    r = requests.post(
                        f"{stack.url}/apis/v2beta1/pipelines/upload",
                        params={"name": f"bench-{i}", "namespace": "default"},
                        files={"uploadfile": ("p.yaml", fh)},
                        headers=stack_auth,
                    )
                r.raise_for_status()
            server = JupyterServer(root, stack.url, token_file)
            port = stack.url.rsplit(":", 1)[1]
            jup_auth = {"Authorization": f"token {server.token}"}
            targets = {
                "direct": (f"{stack.url}/apis/v2beta1", stack_auth, {}),
                "jupyter-dsp proxy": (
                    f"{server.base}dsp/api/project/apis/v2beta1",
                    jup_auth,
                    {},
                ),
                # jupyter-server-proxy forwards the caller's headers: the stack token has to
                # travel with the request, the Jupyter token goes in the query
                "jupyter-server-proxy": (
                    f"{server.base}proxy/127.0.0.1:{port}/apis/v2beta1",
                    stack_auth,
                    {"token": server.token},
                ),
            }
            sessions = {name: requests.Session() for name in targets}
            for s in sessions.values():
                # like kfp.Client (urllib3, no cookie jar): token auth on every request
                s.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
            floor_session = requests.Session()
            floor_session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
            floor: list[float] = []

            # ---- GET pipelines, page of 20: interleaved rounds, warm connections ------
            gets: dict[str, list[float]] = {name: [] for name in targets}
            for name, (base, headers, params) in targets.items():
                for _ in range(20):  # warm-up
                    sessions[name].get(
                        f"{base}/pipelines",
                        params={**params, "page_size": 20, "namespace": "default"},
                        headers=headers,
                    ).raise_for_status()
            server_ps = psutil.Process(server.proc.pid)
            cpu: dict[str, float] = {name: 0.0 for name in [*targets, "floor"]}
            for _ in range(args.rounds):
                for name, (base, headers, params) in targets.items():
                    s = sessions[name]
                    before = server_ps.cpu_times()
                    for _ in range(args.requests):
                        t0 = time.perf_counter()
                        r = s.get(
                            f"{base}/pipelines",
                            params={**params, "page_size": 20, "namespace": "default"},
                            headers=headers,
                        )
                        dt = time.perf_counter() - t0
                        if r.status_code != 200 or len(r.json()["pipelines"]) != 20:
                            raise RuntimeError(f"{name}: {r.status_code} {r.text[:200]}")
                        gets[name].append(dt)
                    after = server_ps.cpu_times()
                    cpu[name] += after.user + after.system - before.user - before.system
                # Jupyter's own smallest authenticated API call, for reference: what any
                # proxy living inside the Jupyter server pays before forwarding anything
                before = server_ps.cpu_times()
                for _ in range(args.requests):
                    t0 = time.perf_counter()
                    r = floor_session.get(f"{server.base}api", headers=jup_auth)
                    floor.append(time.perf_counter() - t0)
                    r.raise_for_status()
                after = server_ps.cpu_times()
                cpu["floor"] += after.user + after.system - before.user - before.system

            # ---- throughput with concurrent clients ---------------------------------
            concurrent: dict[str, float] = {}
            for name, (base, headers, params) in targets.items():
                concurrent[name] = throughput(
                    f"{base}/pipelines",
                    headers,
                    {**params, "page_size": 20, "namespace": "default"},
                    clients=args.clients,
                    each=args.requests,
                )

            # ---- 10 MB uploads ----------------------------------------------------
            payload = big_pipeline(root / "big.yaml", BODY_MB * 1_000_000)
            uploads: dict[str, list[float]] = {name: [] for name in targets}
            growth: dict[str, float] = {name: 0.0 for name in targets}
            upload_cpu: dict[str, float] = {name: 0.0 for name in targets}
            # interleaved (direct, ours, jupyter-server-proxy, direct, ...) so that load on
            # the machine hits every target alike; RSS growth of the Jupyter server is taken
            # per upload (peak during it minus RSS just before) and the worst one reported
            for _ in range(args.uploads):
                for name, (base, headers, params) in targets.items():
                    pname = f"big-{uuid.uuid4().hex[:8]}"
                    before = server_ps.cpu_times()
                    with RssSampler(server.proc.pid) as sampler:
                        t0 = time.perf_counter()
                        r = sessions[name].post(
                            f"{base}/pipelines/upload",
                            params={**params, "name": pname, "namespace": "default"},
                            files={"uploadfile": ("big.yaml", payload, "application/x-yaml")},
                            headers=headers,
                        )
                        dt = time.perf_counter() - t0
                    after = server_ps.cpu_times()
                    upload_cpu[name] += after.user + after.system - before.user - before.system
                    if r.status_code != 200:
                        raise RuntimeError(f"{name} upload: {r.status_code} {r.text[:300]}")
                    uploads[name].append(dt)
                    growth[name] = max(growth[name], sampler.growth_mb)
                    requests.delete(
                        f"{stack.url}/apis/v2beta1/pipelines/{r.json()['pipeline_id']}",
                        params={"cascade": "true"},
                        headers=stack_auth,
                    ).raise_for_status()
        finally:
            if server is not None:
                server.stop()
            stack.stop()

    print(
        f"GET /apis/v2beta1/pipelines?page_size=20 — {args.rounds}x{args.requests} "
        "sequential requests per target, keep-alive"
    )
    print(
        f"{'target':24} {'p50 ms':>8} {'p95 ms':>8} {'req/s':>8} {'p50 / direct':>13} "
        f"{'jupyter CPU ms/req':>19}"
    )
    direct = summarize(gets["direct"])
    n = args.rounds * args.requests
    for name, samples in gets.items():
        s = summarize(samples)
        c = f"{cpu[name] / n * 1000:19.2f}" if name != "direct" else f"{'-':>19}"
        print(
            f"{name:24} {s['p50_ms']:8.2f} {s['p95_ms']:8.2f} {s['rps']:8.0f} "
            f"{s['p50_ms'] / direct['p50_ms']:13.2f} {c}"
        )
    f = summarize(floor)
    print(
        f"{'(jupyter GET api)':24} {f['p50_ms']:8.2f} {f['p95_ms']:8.2f} {f['rps']:8.0f} "
        f"{f['p50_ms'] / direct['p50_ms']:13.2f} {cpu['floor'] / n * 1000:19.2f}"
        "  <- Jupyter's floor"
    )
    print()
    print(f"same GET, {args.clients} concurrent keep-alive clients x {args.requests} requests:")
    for name, rps in concurrent.items():
        print(f"  {name:24} {rps:8.0f} req/s  ({rps / concurrent['direct']:.2f}x direct)")
    print()
    print(f"POST /apis/v2beta1/pipelines/upload, {BODY_MB} MB body — {args.uploads} per target")
    print(
        f"{'target':24} {'p50 ms':>8} {'p95 ms':>8} {'req/s':>8} {'p50 / direct':>13} "
        f"{'server RSS growth MB':>21} {'jupyter CPU ms/upload':>22}"
    )
    udirect = summarize(uploads["direct"])
    for name, samples in uploads.items():
        s = summarize(samples)
        g = f"{growth[name]:21.1f}" if name != "direct" else f"{'-':>21}"
        c = f"{upload_cpu[name] / args.uploads * 1000:22.1f}" if name != "direct" else f"{'-':>22}"
        print(
            f"{name:24} {s['p50_ms']:8.1f} {s['p95_ms']:8.1f} {s['rps']:8.2f} "
            f"{s['p50_ms'] / udirect['p50_ms']:13.2f} {g} {c}"
        )
    ours, jsp = summarize(gets["jupyter-dsp proxy"]), summarize(gets["jupyter-server-proxy"])
    ours_u, jsp_u = (
        summarize(uploads["jupyter-dsp proxy"]),
        summarize(uploads["jupyter-server-proxy"]),
    )
    print()
    print("targets:")
    print(
        f"  GET p50 <= 1.2x direct:           {ours['p50_ms'] / direct['p50_ms']:.2f}x "
        f"({'met' if ours['p50_ms'] <= 1.2 * direct['p50_ms'] else 'MISSED'})"
    )
    print(
        f"  GET p50 <= jupyter-server-proxy:  {ours['p50_ms']:.2f} vs {jsp['p50_ms']:.2f} ms "
        f"({'met' if ours['p50_ms'] <= jsp['p50_ms'] else 'MISSED'})"
    )
    print(
        f"  upload p50 <= jupyter-server-proxy: {ours_u['p50_ms']:.1f} vs {jsp_u['p50_ms']:.1f} ms "
        f"({'met' if ours_u['p50_ms'] <= jsp_u['p50_ms'] else 'MISSED'})"
    )
    limit = 2 * BODY_MB
    g = growth["jupyter-dsp proxy"]
    print(
        f"  RSS growth during 10 MB uploads < {limit} MB: {g:.1f} MB "
        f"({'met' if g < limit else 'MISSED'}); jupyter-server-proxy: "
        f"{growth['jupyter-server-proxy']:.1f} MB"
    )


if __name__ == "__main__":
    main()
