"""Run results through a real Jupyter server on loopback: ``dsp/results`` and ``dsp/artifacts``.

The server's project stack is a real embedded stack (multi-user); the notebook's identity may
read two namespaces there, and the server must still only serve the project's runs.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import results_pipelines as rp
from results_helpers import compile_to, start_run, tasks_named, wait_run

from jupyter_dsp.server import results as server_results

pytest_plugins = ("pytest_jupyter.jupyter_server", "fixtures_cluster", "fixtures_server")


@pytest.fixture
def jp_server_config(dsp_server_config):
    return dsp_server_config


@pytest.fixture
def two_runs(proxied_stack, tmp_path) -> dict[str, Any]:
    """The showcase run in the project namespace ``default`` and one in ``other``; the
    server's identity can read both namespaces on the stack."""
    spec = compile_to(rp.showcase, tmp_path)
    other = proxied_stack.create_token("other-team", {"other": "edit"}, "view")
    broad = proxied_stack.create_token("nb", {"default": "edit", "other": "edit"}, "edit")
    proxied_stack.token_file.write_text(broad)
    mine = start_run(proxied_stack.url, proxied_stack.token, spec)
    theirs = start_run(proxied_stack.url, other, spec, namespace="other")
    for run_id, token in ((mine, proxied_stack.token), (theirs, other)):
        assert wait_run(proxied_stack.url, token, run_id)["state"] == "SUCCEEDED"
    return {"mine": mine, "theirs": theirs, "broad": broad, "other": other}


async def get(jp_fetch, *parts: str, headers: dict[str, str] | None = None, **params: str):
    return await jp_fetch(
        *parts, params=params or None, headers=headers or {}, raise_error=False, method="GET"
    )


def error_of(response) -> str:
    body = json.loads(response.body)
    assert set(body) >= {"code", "message"}, body
    return str(body["message"])


async def test_results_document_has_every_output(two_runs, jp_fetch, proxied_stack):
    r = await get(jp_fetch, "dsp", "results", two_runs["mine"])
    assert r.code == 200, r.body
    assert r.headers["Content-Type"].startswith("application/json")
    doc = json.loads(r.body)
    assert set(doc) == {
        "run_id",
        "state",
        "source",
        "ui_url",
        "unavailable",
        "pipeline_outputs",
        "tasks",
    }
    assert (doc["run_id"], doc["state"], doc["source"]) == (two_runs["mine"], "SUCCEEDED", "stack")
    assert doc["unavailable"] is None
    assert doc["pipeline_outputs"]["parameters"] == {"Output": 0.75}

    [make] = tasks_named(doc, "make-dataset")
    assert make["inputs"]["parameters"] == {"rows": 4}
    assert make["outputs"]["parameters"] == {"Output": 4}
    [data] = make["outputs"]["artifacts"]["data"]
    assert data["type"] == "system.Dataset"
    assert data["metadata"] == {"rows": 4, "format": "csv"}
    assert data["size"] == len(rp.DATASET_CSV.encode())
    assert data["uri"].endswith("/make-dataset/data")

    [train] = tasks_named(doc, "train")
    assert train["outputs"]["parameters"] == {"Output": 0.75}
    assert train["inputs"]["artifacts"]["data"][0]["artifact_id"] == data["artifact_id"]
    outs = {k: v[0] for k, v in train["outputs"]["artifacts"].items()}
    expected_types = {
        "model": "system.Model",
        "metrics": "system.Metrics",
        "classification": "system.ClassificationMetrics",
        "sliced": "system.SlicedClassificationMetrics",
        "report": "system.HTML",
        "summary": "system.Markdown",
        "notes": "system.Artifact",
    }
    assert {k: a["type"] for k, a in outs.items()} == expected_types
    assert outs["metrics"]["metadata"] == rp.SCALARS
    assert outs["metrics"]["size"] is None  # metadata only, no file
    matrix = outs["classification"]["metadata"]["confusionMatrix"]
    assert [s["displayName"] for s in matrix["annotationSpecs"]] == rp.CATEGORIES
    assert [row["row"] for row in matrix["rows"]] == rp.MATRIX
    roc = outs["classification"]["metadata"]["confidenceMetrics"]
    assert [p["falsePositiveRate"] for p in roc] == rp.ROC["fpr"]
    assert [p["recall"] for p in roc] == rp.ROC["tpr"]
    assert [p["confidenceThreshold"] for p in roc] == rp.ROC["threshold"]
    assert outs["sliced"]["metadata"]["evaluationSlices"][0]["slice"] == "overall"
    assert outs["model"]["metadata"] == {"framework": "none"}
    sizes = {k: outs[k]["size"] for k in ("model", "report", "summary", "notes")}
    assert sizes == {
        "model": len(rp.MODEL_TEXT),
        "report": len(rp.HTML_TEXT),
        "summary": len(rp.MARKDOWN_TEXT),
        "notes": len(rp.NOTES_TEXT),
    }
    ids = [a["artifact_id"] for a in outs.values()] + [data["artifact_id"]]
    assert len(set(ids)) == len(ids)

    # ParallelFor: each iteration's outputs stay on its own task
    folds = sorted(tasks_named(doc, "score-fold"), key=lambda t: t["iteration_index"])
    assert [t["iteration_index"] for t in folds] == [0, 1, 2]
    assert [t["inputs"]["parameters"]["fold"] for t in folds] == rp.FOLDS
    assert [t["outputs"]["parameters"]["Output"] for t in folds] == [10, 20, 30]
    scores = [t["outputs"]["artifacts"]["fold_metrics"][0]["metadata"] for t in folds]
    assert scores == [{"fold_score": 10}, {"fold_score": 20}, {"fold_score": 30}]
    parents = {t["parent_task_id"] for t in folds}
    assert len(parents) == 3 and "" not in parents
    assert all(not t["cached"] for t in doc["tasks"])

    # the same document twice: stable artifact ids
    again = json.loads((await get(jp_fetch, "dsp", "results", two_runs["mine"])).body)
    assert again == doc
    assert two_runs["broad"] not in r.body.decode()
    assert all(two_runs["broad"] not in value for _, value in r.headers.get_all())


async def test_artifact_bytes_ranges_and_cap(two_runs, jp_fetch, monkeypatch):
    doc = json.loads((await get(jp_fetch, "dsp", "results", two_runs["mine"])).body)
    [make] = tasks_named(doc, "make-dataset")
    data = make["outputs"]["artifacts"]["data"][0]
    [train] = tasks_named(doc, "train")
    report = train["outputs"]["artifacts"]["report"][0]
    metrics = train["outputs"]["artifacts"]["metrics"][0]
    run, csv = two_runs["mine"], rp.DATASET_CSV.encode()

    whole = await get(jp_fetch, "dsp", "artifacts", run, data["artifact_id"])
    assert whole.code == 200 and whole.body == csv
    assert whole.headers["Content-Length"] == str(len(csv))
    assert whole.headers["Content-Disposition"].startswith("attachment;")
    assert whole.headers["Accept-Ranges"] == "bytes"
    assert all(two_runs["broad"] not in value for _, value in whole.headers.get_all())

    part = await get(
        jp_fetch, "dsp", "artifacts", run, data["artifact_id"], headers={"Range": "bytes=2-9"}
    )
    assert part.code == 206 and part.body == csv[2:10]
    assert part.headers["Content-Range"] == f"bytes 2-9/{len(csv)}"
    tail = await get(
        jp_fetch, "dsp", "artifacts", run, data["artifact_id"], headers={"Range": "bytes=-5"}
    )
    assert tail.code == 206 and tail.body == csv[-5:]

    beyond = await get(
        jp_fetch, "dsp", "artifacts", run, data["artifact_id"], headers={"Range": "bytes=999-"}
    )
    assert beyond.code == 416 and "starts at or after the end" in error_of(beyond)
    assert beyond.headers["Content-Range"] == f"bytes */{len(csv)}"

    # HTML is never served as HTML from Jupyter's origin
    html = await get(jp_fetch, "dsp", "artifacts", run, report["artifact_id"])
    assert html.code == 200 and html.body == rp.HTML_TEXT.encode()
    assert html.headers["Content-Type"] == "application/octet-stream"
    assert html.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in html.headers["Content-Security-Policy"]

    no_file = await get(jp_fetch, "dsp", "artifacts", run, metrics["artifact_id"])
    assert no_file.code == 404 and "no content" in error_of(no_file)

    # a whole download is read from the stack in pieces (here 20 bytes): one 200 answer
    monkeypatch.setattr(server_results, "STACK_STEP", 20)
    pieces = await get(jp_fetch, "dsp", "artifacts", run, data["artifact_id"])
    assert pieces.code == 200 and pieces.body == csv
    assert pieces.headers["Content-Length"] == str(len(csv))
    assert "Content-Range" not in pieces.headers

    monkeypatch.setenv("JUPYTER_DSP_MAX_ARTIFACT_READ", "10")
    capped = await get(jp_fetch, "dsp", "artifacts", run, data["artifact_id"])
    assert capped.code == 413 and "Range" in error_of(capped)
    small = await get(
        jp_fetch, "dsp", "artifacts", run, data["artifact_id"], headers={"Range": "bytes=0-9"}
    )
    assert small.code == 206 and small.body == csv[:10]


async def test_another_namespace_and_bad_ids_are_refused(two_runs, jp_fetch, proxied_stack):
    theirs, mine = two_runs["theirs"], two_runs["mine"]
    # the identity can read "other" on the stack, the server still refuses it
    direct = await asyncio.to_thread(
        __import__("requests").get,
        f"{proxied_stack.url}/apis/v2beta1/artifacts",
        params={"run_id": theirs},
        headers={"Authorization": f"Bearer {two_runs['broad']}"},
        timeout=30,
    )
    assert direct.status_code == 200
    their_ids = [a["artifact_id"] for a in direct.json()["artifacts"]]
    assert their_ids

    r = await get(jp_fetch, "dsp", "results", theirs)
    assert r.code == 403 and "namespace" in error_of(r)
    r = await get(jp_fetch, "dsp", "artifacts", theirs, their_ids[0])
    assert r.code == 403
    # another run's artifact named through my run: not mine
    r = await get(jp_fetch, "dsp", "artifacts", mine, their_ids[0])
    assert r.code == 404
    r = await get(jp_fetch, "dsp", "artifacts", mine, "no-such-artifact")
    assert r.code == 404
    r = await get(jp_fetch, "dsp", "results", "no-such-run")
    assert r.code == 404
    r = await get(jp_fetch, "dsp", "results", "bad%20id")
    assert r.code == 404
    r = await jp_fetch(
        "dsp",
        "results",
        mine,
        params=[("space", "project"), ("space", "local")],
        raise_error=False,
        method="GET",
    )
    assert r.code == 400
    r = await get(jp_fetch, "dsp", "results", mine, space="shared")
    assert r.code == 400
    assert two_runs["broad"] not in r.body.decode()


async def test_results_need_authentication(proxied_stack, jp_fetch, server_url):
    import requests  # type: ignore[import-untyped]

    for path in ("dsp/results/some-run", "dsp/artifacts/some-run/some-artifact"):
        r = await asyncio.to_thread(requests.get, f"{server_url}{path}", timeout=30)
        assert r.status_code in (401, 403), path
        assert "tasks" not in r.text


@pytest.fixture
def dspa_cluster(sa_dir, fake_kube, stack_factory):
    """A workbench on a (simulated) Data Science Pipelines cluster: the stack standing in for
    the namespace's DSPA is found through the fake Kubernetes API."""
    from fake_kube_api import make_dspa

    handle = stack_factory(default_namespace="team-a", tokens={"sa": ({"team-a": "edit"}, "view")})
    sa_dir.rotate(handle.tokens["sa"])
    fake_kube.dspas["team-a"] = [make_dspa("dspa", "team-a", url=handle.url)]
    return handle


async def test_local_space_results_on_a_cluster_workbench(dspa_cluster, jp_fetch, tmp_path):
    local = ("dsp", "api", "local", "apis", "v2beta1")
    body = {
        "display_name": "showcase locally",
        "pipeline_spec": compile_to(rp.showcase, tmp_path),
        "runtime_config": {"parameters": {}},
    }
    r = await jp_fetch(*local, "runs", method="POST", body=json.dumps(body))
    run_id = json.loads(r.body)["run_id"]
    for _ in range(600):
        run = json.loads((await jp_fetch(*local, "runs", run_id)).body)
        if run.get("state") in ("SUCCEEDED", "FAILED", "CANCELED"):
            break
        await asyncio.sleep(0.5)
    assert run["state"] == "SUCCEEDED", run.get("error")

    r = await get(jp_fetch, "dsp", "results", run_id, space="local")
    assert r.code == 200, r.body
    doc = json.loads(r.body)
    assert doc["source"] == "stack" and doc["pipeline_outputs"]["parameters"] == {"Output": 0.75}
    [train] = tasks_named(doc, "train")
    summary = train["outputs"]["artifacts"]["summary"][0]
    r = await get(jp_fetch, "dsp", "artifacts", run_id, summary["artifact_id"], space="local")
    assert r.code == 200 and r.body == rp.MARKDOWN_TEXT.encode()
    # the cluster's project space does not have that run
    r = await get(jp_fetch, "dsp", "results", run_id)
    assert r.code == 404


async def test_an_empty_artifact_is_an_empty_download(proxied_stack, jp_fetch, tmp_path):
    """The stack answers 416 to the first piece of an empty artifact: the server says 200, 0
    bytes (a download of nothing), and a caller's own range stays the stack's 416."""
    spec = compile_to(rp.empty_artifact, tmp_path)
    run_id = await asyncio.to_thread(start_run, proxied_stack.url, proxied_stack.token, spec)
    run = await asyncio.to_thread(wait_run, proxied_stack.url, proxied_stack.token, run_id)
    assert run["state"] == "SUCCEEDED", run
    doc = json.loads((await get(jp_fetch, "dsp", "results", run_id)).body)
    [empty] = tasks_named(doc, "write-empty")[0]["outputs"]["artifacts"]["empty"]
    assert empty["size"] == 0

    whole = await get(jp_fetch, "dsp", "artifacts", run_id, empty["artifact_id"])
    assert whole.code == 200 and whole.body == b""
    assert whole.headers["Content-Length"] == "0"
    assert whole.headers["Content-Disposition"].startswith("attachment;")
    assert "Content-Range" not in whole.headers

    ranged = await get(
        jp_fetch, "dsp", "artifacts", run_id, empty["artifact_id"], headers={"Range": "bytes=0-9"}
    )
    assert ranged.code == 416 and ranged.headers["Content-Range"] == "bytes */0"
