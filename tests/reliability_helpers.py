"""Helpers for the reliability suite (tests/test_reliability_*.py).

- :func:`record`: prints a test's figures and merges them into ``tests/artifacts/reliability.json``
  (git-ignored) under the test's name;
- :class:`Target`: a KFP API base URL plus the headers to reach it (the stack directly, or the
  server extension's proxy with a Jupyter token), with small request helpers;
- :class:`Tally`: thread-safe counters and failure samples for many concurrent clients;
- :func:`run_clients`: ``n`` client threads looping until a deadline, an op budget or a stop event.
"""

from __future__ import annotations

import json
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
SUMMARY = ARTIFACTS / "reliability.json"
API = "/apis/v2beta1"
_summary_lock = threading.Lock()


def record(test: str, **figures: Any) -> dict[str, Any]:
    """Print ``figures`` and store them in the summary file under ``test``."""
    figures = {"recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **figures}
    print(f"\n[reliability] {test}: " + json.dumps(figures, sort_keys=True))
    with _summary_lock:
        ARTIFACTS.mkdir(exist_ok=True)
        try:
            summary = json.loads(SUMMARY.read_text())
        except (OSError, ValueError):
            summary = {}
        summary[test] = figures
        tmp = SUMMARY.with_suffix(".tmp")
        tmp.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
        tmp.replace(SUMMARY)
    return figures


@dataclass
class Target:
    """Where KFP API calls go: ``base`` ends before ``/apis/v2beta1``."""

    base: str
    headers: dict[str, str]
    name: str = "stack"

    @classmethod
    def stack(cls, handle: Any, token: str | None = None) -> Target:
        return cls(handle.url, {"Authorization": f"Bearer {token or handle.token}"}, "stack")

    @classmethod
    def proxy(cls, server_url: str, jupyter_token: str, space: str = "project") -> Target:
        return cls(
            f"{server_url}dsp/api/{space}", {"Authorization": f"token {jupyter_token}"}, "proxy"
        )

    def url(self, path: str) -> str:
        return self.base + API + path

    def request(
        self, method: str, path: str, session: requests.Session | None = None, **kwargs: Any
    ) -> requests.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        kwargs.setdefault("timeout", 120)
        return (session or requests).request(method, self.url(path), headers=headers, **kwargs)

    def upload(
        self,
        name: str,
        data: bytes,
        session: requests.Session | None = None,
        filename: str = "pipeline.yaml",
        **params: str,
    ) -> requests.Response:
        return self.request(
            "POST",
            "/pipelines/upload",
            session,
            params={"name": name, **params},
            files={"uploadfile": (filename, data)},
        )


def assert_clean_error(response: requests.Response) -> dict[str, Any]:
    """A refusal a user can read: 4xx, KFP-shaped JSON, no traceback, no HTML."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    assert "Traceback" not in response.text and "<html" not in response.text.lower()
    body = response.json()
    shapes = ({"code", "message", "details"}, {"error_message", "error_details"})
    assert set(body) in shapes, body
    assert body.get("message") or body.get("error_message")
    return body


@dataclass
class Tally:
    """Counters shared by client threads; keeps the first failures for the assertion message."""

    counts: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, key: str, n: int = 1) -> None:
        with self.lock:
            self.counts[key] += n

    def fail(self, what: str) -> None:
        with self.lock:
            self.counts["failed"] += 1
            if len(self.failures) < 20:
                self.failures.append(what)

    def __getitem__(self, key: str) -> int:
        return self.counts[key]


ClientLoop = Callable[[int, int, requests.Session], None]


def run_clients(
    n: int,
    op: ClientLoop,
    tally: Tally,
    *,
    seconds: float,
    max_ops: int,
    stop: threading.Event | None = None,
) -> float:
    """Run ``op(client, i, session)`` in ``n`` threads until ``seconds`` pass, each client did
    ``max_ops`` operations, or ``stop`` is set. An exception in ``op`` counts as a failure.
    Returns the elapsed seconds."""
    start = time.monotonic()
    deadline = start + seconds
    stop = stop or threading.Event()

    def client(index: int) -> None:
        with requests.Session() as session:
            for i in range(max_ops):
                if stop.is_set() or time.monotonic() >= deadline:
                    return
                try:
                    op(index, i, session)
                except Exception:  # every unexpected error is a finding, with its trace
                    tally.fail(f"client {index} op {i}: {traceback.format_exc(limit=3)}")

    with ThreadPoolExecutor(max_workers=n, thread_name_prefix="load-client") as pool:
        for future in [pool.submit(client, k) for k in range(n)]:
            future.result()
    return time.monotonic() - start


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def all_pipelines(target: Target, namespace: str | None = None) -> dict[str, dict[str, Any]]:
    """Every pipeline of a namespace (or shared), by id, paging through the list."""
    found: dict[str, dict[str, Any]] = {}
    token = ""
    while True:
        params = {"page_size": "200", "page_token": token}
        if namespace is not None:
            params["namespace"] = namespace
        response = target.request("GET", "/pipelines", params=params)
        response.raise_for_status()
        body = response.json()
        for p in body.get("pipelines", []):
            found[p["pipeline_id"]] = p
        token = body.get("next_page_token", "")
        if not token:
            return found
