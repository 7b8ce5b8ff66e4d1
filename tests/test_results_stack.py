"""Run results on the real embedded stack: its artifact API (KFP master's v2beta1 shape), artifact
content (ranges, cap, directories), namespace isolation, and the kernel's results client.

One stack for the module, started with a 50-byte read cap so that the over-cap path is real.
(No ``from __future__ import annotations``: kfp reads the components' annotations.)
"""

import io
import os
import tarfile
from typing import Any

import pytest
import requests  # type: ignore[import-untyped]
import results_pipelines as rp
from kfp import dsl  # type: ignore[import-untyped]
from kfp.dsl import Artifact, Dataset, Output  # type: ignore[import-untyped]
from results_helpers import compile_to, start_run, tasks_named, wait_run

from jupyter_dsp.client import DSPClient
from jupyter_dsp.client import results as client_results
from jupyter_dsp.client.errors import DSPError
from jupyter_dsp.stack import start_stack
from jupyter_dsp.stack.results_read import ReadRefused, plan_read

CAP = 50
API = "/apis/v2beta1"


@dsl.component(base_image="python:3.11")
def write_dir(data: Output[Dataset], empty: Output[Artifact]) -> None:
    import os

    open(empty.path, "w").close()

    os.makedirs(os.path.join(data.path, "part"), exist_ok=True)
    with open(os.path.join(data.path, "a.txt"), "w") as f:
        f.write("alpha\n")
    with open(os.path.join(data.path, "part", "b.txt"), "w") as f:
        f.write("beta\n")


@dsl.pipeline(name="dir-artifact")
def dir_artifact() -> Dataset:
    return write_dir().outputs["data"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Any:
    os.environ["JUPYTER_DSP_STACK_MAX_READ_BYTES"] = str(CAP)
    try:
        handle = start_stack(tmp_path_factory.mktemp("results-stack") / "data")
    finally:
        del os.environ["JUPYTER_DSP_STACK_MAX_READ_BYTES"]
    handle.tokens = {  # type: ignore[attr-defined]
        "alice": handle.create_token("alice", {"team-a": "edit"}, "view"),
        "bob": handle.create_token("bob", {"team-b": "edit"}, "view"),
        "both": handle.create_token("both", {"team-a": "edit", "team-b": "edit"}, "view"),
    }
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture(scope="module")
def runs(stack, tmp_path_factory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("specs")
    t = stack.tokens
    ids = {
        "showcase": start_run(stack.url, t["alice"], compile_to(rp.showcase, out), "team-a"),
        "dir": start_run(stack.url, t["alice"], compile_to(dir_artifact, out), "team-a"),
        "bobs": start_run(stack.url, t["bob"], compile_to(dir_artifact, out), "team-b"),
    }
    for key, run_id in ids.items():
        token = t["bob"] if key == "bobs" else t["alice"]
        assert wait_run(stack.url, token, run_id)["state"] == "SUCCEEDED"
    return ids


def get(stack: Any, path: str, who: str = "alice", **kwargs: Any) -> requests.Response:
    headers = kwargs.pop("headers", {})
    headers["Authorization"] = f"Bearer {stack.tokens[who]}"
    return requests.get(stack.url + API + path, headers=headers, timeout=60, **kwargs)


def kfp_error(response: requests.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "message", "details"}, body
    return str(body["message"])


def test_artifacts_of_a_run_in_masters_shape(stack, runs):
    listed = get(stack, "/artifacts", params={"run_id": runs["showcase"]}).json()
    artifacts = listed["artifacts"]
    assert listed["total_size"] == len(artifacts) == 11  # 1 dataset, 7 from train, 3 folds
    by_name: dict[str, list[dict]] = {}
    for a in artifacts:
        by_name.setdefault(a["name"], []).append(a)
        assert a["namespace"] == "team-a" and a["created_at"].endswith("Z")
        assert a["artifact_id"].startswith(runs["showcase"])
    types = {name: items[0]["type"] for name, items in by_name.items()}
    assert types == {
        "data": "Dataset",
        "model": "Model",
        "metrics": "Metric",
        "classification": "ClassificationMetric",
        "sliced": "SlicedClassificationMetric",
        "report": "HTML",
        "summary": "Markdown",
        "notes": "Artifact",
        "fold_metrics": "Metric",
    }
    assert by_name["report"][0]["schema_title"] == "system.HTML"
    assert by_name["data"][0]["size"] == len(rp.DATASET_CSV)
    assert by_name["metrics"][0]["size"] is None
    assert len(by_name["fold_metrics"]) == 3

    one = by_name["model"][0]
    assert get(stack, f"/artifacts/{one['artifact_id']}").json() == one
    # pages
    first = get(stack, "/artifacts", params={"run_id": runs["showcase"], "page_size": 4}).json()
    assert len(first["artifacts"]) == 4 and first["next_page_token"]
    rest = get(
        stack,
        "/artifacts",
        params={
            "run_id": runs["showcase"],
            "page_size": 20,
            "page_token": first["next_page_token"],
        },
    ).json()
    assert [a["artifact_id"] for a in first["artifacts"] + rest["artifacts"]] == [
        a["artifact_id"] for a in artifacts
    ]
    # the namespace's list holds the run's artifacts (and the dir run's one)
    in_ns = get(stack, "/artifacts", params={"namespace": "team-a", "page_size": 200}).json()
    assert {a["artifact_id"] for a in artifacts} <= {a["artifact_id"] for a in in_ns["artifacts"]}
    assert in_ns["total_size"] == 13  # and the dir run's two


def test_artifact_tasks_and_tasks_keep_iterations_apart(stack, runs):
    run_id = runs["showcase"]
    links = get(stack, "/artifact_tasks", params={"run_ids": run_id, "page_size": 100}).json()
    links = links["artifact_tasks"]
    outputs = [link for link in links if link["type"] in ("OUTPUT", "ITERATOR_OUTPUT")]
    inputs = [link for link in links if link["type"] == "TASK_OUTPUT_INPUT"]
    assert len(outputs) == 11
    # the dataset into train and into each fold (loop and iteration DAGs also pass it down)
    assert len([link for link in inputs if link["key"] == "data"]) == 4
    assert {link["producer"]["task_name"] for link in inputs} == {"make-dataset"}
    folds = [link for link in outputs if link["type"] == "ITERATOR_OUTPUT"]
    assert sorted(link["producer"]["iteration"] for link in folds) == ["0", "1", "2"]
    assert len({link["task_id"] for link in folds}) == 3
    data_id = next(link["artifact_id"] for link in outputs if link["key"] == "data")
    by_artifact = get(stack, "/artifact_tasks", params={"artifact_ids": data_id}).json()
    assert len(by_artifact["artifact_tasks"]) == 1 + len(inputs)  # produced once
    only_outputs = get(
        stack, "/artifact_tasks", params={"run_ids": run_id, "type": "OUTPUT"}
    ).json()
    assert all(link["type"] == "OUTPUT" for link in only_outputs["artifact_tasks"])

    tasks = get(stack, "/tasks", params={"run_id": run_id}).json()["tasks"]
    paged, token = [], ""
    while True:
        page = get(
            stack, "/tasks", params={"run_id": run_id, "page_size": 3, "page_token": token}
        ).json()
        assert len(page["tasks"]) <= 3 and page["total_size"] == len(tasks)
        paged += page["tasks"]
        token = page.get("next_page_token", "")
        if not token:
            break
    assert paged == tasks
    kinds = {t["type"] for t in tasks}
    assert {"RUNTIME", "LOOP", "LOOP_ITERATION"} <= kinds
    scored = sorted(
        (t for t in tasks if t["name"] == "score-fold"),
        key=lambda t: int(t["type_attributes"]["iteration_index"]),
    )
    fold_inputs = [t["inputs"]["parameters"][0] for t in scored]
    assert fold_inputs == [{"parameter_key": "fold", "value": v} for v in rp.FOLDS]
    outs = [t["outputs"]["parameters"] for t in scored]
    assert outs == [[{"parameter_key": "Output", "value": v}] for v in (10, 20, 30)]
    loop = next(t for t in tasks if t["type"] == "LOOP")
    assert loop["type_attributes"]["iteration_count"] == "3"

    assert kfp_error(get(stack, "/artifact_tasks"), 400)
    assert kfp_error(get(stack, "/tasks"), 400)
    assert kfp_error(get(stack, "/artifact_tasks", params={"run_ids": run_id, "type": "X"}), 400)


def test_content_ranges_cap_and_refusals(stack, runs):
    listed = get(stack, "/artifacts", params={"run_id": runs["showcase"]}).json()["artifacts"]
    by_name = {a["name"]: a for a in listed}
    model, data = by_name["model"]["artifact_id"], by_name["data"]["artifact_id"]
    csv = rp.DATASET_CSV.encode()

    whole = get(stack, f"/artifacts/{model}/content")
    assert whole.status_code == 200 and whole.content == rp.MODEL_TEXT.encode()
    assert whole.headers["Content-Length"] == str(len(rp.MODEL_TEXT))
    assert whole.headers["Accept-Ranges"] == "bytes"
    assert "attachment" in whole.headers["Content-Disposition"]

    # 58 bytes, cap 50: a whole read is refused, a range within the cap is served
    assert "Range" in kfp_error(get(stack, f"/artifacts/{data}/content"), 413)
    part = get(stack, f"/artifacts/{data}/content", headers={"Range": "bytes=10-57"})
    assert part.status_code == 206 and part.content == csv[10:58]
    assert part.headers["Content-Range"] == f"bytes 10-57/{len(csv)}"
    assert kfp_error(get(stack, f"/artifacts/{data}/content", headers={"Range": "bytes=0-57"}), 413)
    beyond = get(stack, f"/artifacts/{data}/content", headers={"Range": "bytes=58-"})
    assert kfp_error(beyond, 416) and beyond.headers["Content-Range"] == f"bytes */{len(csv)}"
    assert kfp_error(
        get(stack, f"/artifacts/{data}/content", headers={"Range": "bytes=0-1,4-5"}), 416
    )
    metrics = by_name["metrics"]["artifact_id"]
    assert "no content" in kfp_error(get(stack, f"/artifacts/{metrics}/content"), 404)
    assert kfp_error(get(stack, "/artifacts/not-an-id/content"), 404)
    assert kfp_error(get(stack, f"/artifacts/{runs['showcase']}~0000000000000000"), 404)
    assert kfp_error(get(stack, "/artifacts", params={"run_id": "no-such-run"}), 404)
    assert kfp_error(
        get(stack, "/artifacts", params={"namespace": "team-a", "page_token": "x"}), 400
    )
    assert kfp_error(
        get(stack, "/artifacts", params={"namespace": "team-a", "sort_by": "name"}), 400
    )


def test_a_directory_comes_as_a_tar(stack, runs):
    listed = get(stack, "/artifacts", params={"run_id": runs["dir"]}).json()["artifacts"]
    [artifact] = [a for a in listed if a["name"] == "data"]
    assert artifact["size"] == len("alpha\n") + len("beta\n")
    path = f"/artifacts/{artifact['artifact_id']}/content"
    assert "Range" in kfp_error(get(stack, path), 413)  # the tar is larger than the cap
    first = get(stack, path, headers={"Range": f"bytes=0-{CAP - 1}"})
    assert first.status_code == 206 and first.headers["Content-Type"] == "application/x-tar"
    total = int(first.headers["Content-Range"].rpartition("/")[2])
    parts = [first.content]
    for start in range(CAP, total, CAP):
        piece = get(stack, path, headers={"Range": f"bytes={start}-{start + CAP - 1}"})
        assert piece.status_code == 206
        parts.append(piece.content)
    whole = b"".join(parts)
    assert len(whole) == total and total % 512 == 0
    with tarfile.open(fileobj=io.BytesIO(whole)) as tar:
        names = sorted(m.name for m in tar.getmembers() if m.isfile())
        assert names == ["data/a.txt", "data/part/b.txt"]
        assert tar.extractfile("data/part/b.txt").read() == b"beta\n"


def test_another_namespace_is_refused(stack, runs):
    bobs = runs["bobs"]
    their = get(stack, "/artifacts", "bob", params={"run_id": bobs}).json()["artifacts"][0]
    aid = their["artifact_id"]
    for path, params in (
        ("/artifacts", {"run_id": bobs}),
        (f"/artifacts/{aid}", {}),
        (f"/artifacts/{aid}/content", {}),
        ("/artifact_tasks", {"run_ids": bobs}),
        ("/artifact_tasks", {"artifact_ids": aid}),
        ("/tasks", {"run_id": bobs}),
        ("/artifacts", {"namespace": "team-b"}),
    ):
        assert kfp_error(get(stack, path, "alice", params=params), 403), path
    assert get(stack, f"/artifacts/{aid}", "both").status_code == 200


def test_kernel_client_reads_results_and_bytes(stack, runs, tmp_path, monkeypatch):
    client = DSPClient.from_endpoint(stack.url, stack.tokens["alice"], namespace="team-a")
    doc = client.results(runs["showcase"])
    assert doc["source"] == "stack" and doc["pipeline_outputs"]["parameters"] == {"Output": 0.75}
    [train] = tasks_named(doc, "train")
    notes = train["outputs"]["artifacts"]["notes"][0]
    assert notes["type"] == "system.Artifact" and notes["size"] == len(rp.NOTES_TEXT)
    assert client.read_artifact(runs["showcase"], notes["artifact_id"]) == rp.NOTES_TEXT.encode()
    assert client.read_artifact(runs["showcase"], notes["artifact_id"], 4) == b"free"
    seen: list[tuple[int, Any]] = []
    target = client.download_artifact(
        runs["showcase"], notes["artifact_id"], tmp_path / "n.txt", lambda n, t: seen.append((n, t))
    )
    assert target.read_bytes() == rp.NOTES_TEXT.encode()
    assert seen[-1] == (len(rp.NOTES_TEXT), len(rp.NOTES_TEXT))
    [make] = tasks_named(doc, "make-dataset")
    data = make["outputs"]["artifacts"]["data"][0]
    with pytest.raises(DSPError, match="Range"):  # over the stack's cap
        client.download_artifact(runs["showcase"], data["artifact_id"], tmp_path / "d.csv")
    assert not (tmp_path / "d.csv").exists() and not (tmp_path / "d.csv.part").exists()
    # in pieces within the cap, the download goes through (ranged requests, in order)
    monkeypatch.setattr(client_results, "DOWNLOAD_STEP", 20)
    seen.clear()
    target = client.download_artifact(
        runs["showcase"], data["artifact_id"], tmp_path / "d.csv", lambda n, t: seen.append((n, t))
    )
    assert target.read_bytes() == rp.DATASET_CSV.encode()
    assert [n for n, _ in seen] == sorted(n for n, _ in seen) and seen[-1][0] == len(rp.DATASET_CSV)
    assert {t for _, t in seen} == {len(rp.DATASET_CSV)}

    # a pipeline that returns an artifact: the run's output is the producing task's artifact
    dir_doc = client.results(runs["dir"])
    [empty] = tasks_named(dir_doc, "write-dir")[0]["outputs"]["artifacts"]["empty"]
    assert empty["size"] == 0
    assert client.read_artifact(runs["dir"], empty["artifact_id"], 10) == b""
    got = client.download_artifact(runs["dir"], empty["artifact_id"], tmp_path / "empty")
    assert got.read_bytes() == b""
    [produced] = tasks_named(dir_doc, "write-dir")[0]["outputs"]["artifacts"]["data"]
    assert dir_doc["pipeline_outputs"]["artifacts"] == {"Output": [produced]}

    # a token that reads both namespaces still only reads the project's runs
    both = DSPClient.from_endpoint(stack.url, stack.tokens["both"], namespace="team-a")
    with pytest.raises(DSPError, match="not in the project namespace"):
        both.results(runs["bobs"])
    with pytest.raises(DSPError):
        both.read_artifact(runs["showcase"], "no-such-artifact")


def test_plan_read_rules():
    assert plan_read(100, None, 100).status == 200
    assert plan_read(100, "bytes=-10", 100).content_range == "bytes 90-99/100"
    assert plan_read(100, "bytes=95-200", 100).length == 5
    for header, cap, status in (
        (None, 99, 413),
        ("bytes=0-99", 50, 413),
        ("bytes=100-", 1000, 416),
        ("bytes=9-3", 1000, 416),
        ("bytes=-0", 1000, 416),
        ("items=0-3", 1000, 416),
    ):
        with pytest.raises(ReadRefused) as refused:
            plan_read(100, header, cap)
        assert refused.value.status == status, header
