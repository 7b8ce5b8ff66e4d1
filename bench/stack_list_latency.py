"""Benchmark: list/get latency of the embedded stack with 100,000 pipelines.

Loads the pipelines straight through the store (bulk insert, not HTTP), starts the stack as
a child process on that data dir, then measures over HTTP (keep-alive session, loopback):

- a page of 20, first page and a page deep in the list (~90,000 rows in),
  sorted by created_at and by name;
- a page of 20 filtered by display name (EQUALS, and IS_SUBSTRING for comparison);
- get by id.

Prints p50 / p95 in milliseconds. Target: p50 < 20 ms for each.

    python bench/stack_list_latency.py [--count 100000] [--repeat 200] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jupyter_dsp.stack import start_stack  # noqa: E402
from jupyter_dsp.stack.context import DB_FILE, prepare_data_dir  # noqa: E402
from jupyter_dsp.stack.db import Database  # noqa: E402
from jupyter_dsp.stack.listing import parse_list_request  # noqa: E402
from jupyter_dsp.stack.pipelines_store import PIPELINES, PipelineStore  # noqa: E402

API = "/apis/v2beta1"


def load(data_dir: Path, count: int) -> None:
    db = Database(prepare_data_dir(data_dir) / DB_FILE)
    store = PipelineStore(db.conn)
    names = list(range(count))
    random.Random(1).shuffle(names)
    base = int(time.time()) - count
    groups = display_groups(count)
    rows = [
        (str(uuid.uuid4()), "", f"pipeline-{names[i]:06d}", f"display-{i % groups}", base + i)
        for i in range(count)
    ]
    for start in range(0, count, 20_000):
        store.bulk_insert_pipelines(rows[start : start + 20_000])
    db.conn().execute("ANALYZE")
    db.close()


def display_groups(count: int) -> int:
    """Display names repeat so that each one names 100 pipelines."""
    return max(1, count // 100)


def display_filter(operation: str, value: str) -> str:
    predicate = {"key": "display_name", "operation": operation, "string_value": value}
    return json.dumps({"predicates": [predicate]})


def deep_token(data_dir: Path, sort_by: str, offset: int) -> str:
    """The page token a client would hold after paging ``offset`` rows in."""
    db = Database(data_dir / DB_FILE)
    query = parse_list_request(
        PIPELINES, page_token=None, page_size="20", sort_by=sort_by, filter=None
    )
    row = (
        db.conn()
        .execute(
            f"SELECT * FROM pipelines WHERE namespace = '' ORDER BY {query.order_sql()}"
            " LIMIT 1 OFFSET ?",
            (offset - 1,),
        )
        .fetchone()
    )
    db.close()
    return query.next_token(row)


def measure(session: requests.Session, url: str, params: dict, repeat: int) -> list[float]:
    timings = []
    for _ in range(repeat + 5):
        start = time.perf_counter()
        response = session.get(url, params=params, timeout=30)
        elapsed = (time.perf_counter() - start) * 1000
        response.raise_for_status()
        timings.append(elapsed)
    return timings[5:]  # warm-up


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()
    scratch = None if args.data_dir else tempfile.TemporaryDirectory(prefix="dsp-bench-")
    data_dir = args.data_dir or Path(scratch.name) / "data"

    started = time.perf_counter()
    load(data_dir, args.count)
    print(f"loaded {args.count} pipelines in {time.perf_counter() - started:.1f} s ({data_dir})")

    handle = start_stack(data_dir)
    try:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {handle.token}"
        pipelines = f"{handle.url}{API}/pipelines"
        deep = int(args.count * 0.9)
        wanted = display_groups(args.count) // 2
        some_id = session.get(pipelines, params={"page_size": 1}).json()["pipelines"][0]
        cases = {
            "first page, created_at": {"page_size": 20},
            "deep page, created_at": {
                "page_size": 20,
                "page_token": deep_token(data_dir, "created_at", deep),
            },
            "first page, name": {"page_size": 20, "sort_by": "name"},
            "deep page, name": {"page_size": 20, "page_token": deep_token(data_dir, "name", deep)},
            "filter display_name EQUALS": {
                "page_size": 20,
                "filter": display_filter("EQUALS", f"display-{wanted}"),
            },
            "filter display_name IS_SUBSTRING": {
                "page_size": 20,
                "filter": display_filter("IS_SUBSTRING", f"ay-{wanted}"),
            },
        }
        print(f"\n{'case':40} {'p50 ms':>8} {'p95 ms':>8}  (n={args.repeat}, target p50 < 20)")
        for label, params in cases.items():
            timings = measure(session, pipelines, params, args.repeat)
            body = session.get(pipelines, params=params).json()
            assert len(body.get("pipelines", [])) == 20, (label, body.get("total_size"))
            report(label, timings)
        timings = measure(session, f"{pipelines}/{some_id['pipeline_id']}", {}, args.repeat)
        report("get by id", timings)
    finally:
        handle.stop()
        if scratch is not None:
            scratch.cleanup()
    return 0


def report(label: str, timings: list[float]) -> None:
    p50 = statistics.median(timings)
    p95 = statistics.quantiles(timings, n=20)[-1]
    flag = "" if p50 < 20 else "  <-- over target"
    print(f"{label:40} {p50:8.2f} {p95:8.2f}{flag}")


if __name__ == "__main__":
    raise SystemExit(main())
