"""Importer steps: local paths, file://, http(s):// from a real http server on loopback and
s3:// from moto's S3 server on loopback; everything else fails with the reason."""

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from jupyter_dsp.stack.runner.importer import ImporterError, import_artifact

PAYLOAD = b"x" * (3 * 1024 * 1024 + 17)  # several chunks: streamed, not one read


@pytest.fixture(scope="module")
def http_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("www")
    (root / "data.bin").write_bytes(PAYLOAD)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def do_GET(self) -> None:  # noqa: N802
            if self.path == "/moved":
                self.send_response(302)
                self.send_header("Location", "/data.bin")
                self.end_headers()
                return
            super().do_GET()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_env(monkeypatch: pytest.MonkeyPatch, s3_endpoint: str) -> str:
    """An Open Data Hub data connection's variables pointing at the moto server."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_S3_ENDPOINT", s3_endpoint)
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    buckets = [b["Name"] for b in client.list_buckets().get("Buckets", [])]
    if "data" not in buckets:
        client.create_bucket(Bucket="data")
        client.put_object(Bucket="data", Key="one/file.csv", Body=b"a,b\n1,2\n")
        client.put_object(Bucket="data", Key="model/weights.bin", Body=b"\x00\x01\x02")
        client.put_object(Bucket="data", Key="model/conf/c.json", Body=b"{}")
    return s3_endpoint


def test_local_path_and_file_uri(tmp_path: Path) -> None:
    source = tmp_path / "src.txt"
    source.write_text("hello")
    assert import_artifact(str(source), tmp_path / "a" / "out", {}).read_text() == "hello"
    assert import_artifact(source.as_uri(), tmp_path / "b", {}).read_text() == "hello"
    folder = tmp_path / "folder"
    (folder / "deep").mkdir(parents=True)
    (folder / "deep" / "f").write_text("in a folder")
    dest = import_artifact(str(folder), tmp_path / "c", {})
    assert (dest / "deep" / "f").read_text() == "in a folder"
    with pytest.raises(ImporterError, match="no such file"):
        import_artifact(str(tmp_path / "missing"), tmp_path / "d", {})


def test_http_streamed_and_redirected(tmp_path: Path, http_url: str) -> None:
    out = import_artifact(f"{http_url}/data.bin", tmp_path / "data", {"source": "web"})
    assert out.read_bytes() == PAYLOAD
    assert import_artifact(f"{http_url}/moved", tmp_path / "moved", {}).read_bytes() == PAYLOAD
    with pytest.raises(ImporterError, match="HTTP 404"):
        import_artifact(f"{http_url}/nothing-here", tmp_path / "none", {})
    assert not (tmp_path / "none").exists() and not (tmp_path / "none.part").exists()


def test_http_unreachable(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ImporterError, match="refused"):
        import_artifact(f"http://127.0.0.1:{port}/x", tmp_path / "x", {})


def test_s3_object_and_prefix_with_data_connection(tmp_path: Path, s3_env: str) -> None:
    out = import_artifact("s3://data/one/file.csv", tmp_path / "file.csv", {})
    assert out.read_bytes() == b"a,b\n1,2\n"
    folder = import_artifact("s3://data/model", tmp_path / "model", {})
    assert (folder / "weights.bin").read_bytes() == b"\x00\x01\x02"
    assert (folder / "conf" / "c.json").read_text() == "{}"
    with pytest.raises(ImporterError, match="no object with that key or prefix"):
        import_artifact("s3://data/absent.csv", tmp_path / "absent", {})
    with pytest.raises(ImporterError, match="NoSuchBucket"):
        import_artifact("s3://no-such-bucket/k", tmp_path / "nb", {})


def test_s3_unreachable_endpoint_names_the_uri(
    tmp_path: Path, s3_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_S3_ENDPOINT", "http://127.0.0.1:1")  # nothing listens there
    with pytest.raises(ImporterError, match="s3://data/one/file.csv"):
        import_artifact("s3://data/one/file.csv", tmp_path / "f", {})


def test_other_schemes_are_refused_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(ImporterError) as caught:
        import_artifact("gs://bucket/model", tmp_path / "m", {})
    assert "gs://bucket/model" in str(caught.value)
    assert "s3://" in str(caught.value)  # says what is supported


# ----- end to end: importer steps in runs of the embedded stack -------------------------------


@pytest.fixture(scope="module")
def importer_stack(tmp_path_factory: pytest.TempPathFactory, s3_endpoint: str):
    """A stack whose workers have an ODH data connection's variables (moto on loopback)."""
    from jupyter_dsp.stack import start_stack

    with pytest.MonkeyPatch.context() as patch:
        for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
            patch.delenv(name, raising=False)
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        patch.setenv("AWS_S3_ENDPOINT", s3_endpoint)
        client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
        client.create_bucket(Bucket="runs")
        client.put_object(Bucket="runs", Key="in/table.csv", Body=b"x,y\n1,2\n3,4\n")
        handle = start_stack(tmp_path_factory.mktemp("importer-stack") / "data")
    try:
        yield handle
    finally:
        handle.stop()


def _import_run(stack, uri: str) -> dict:
    import kfp
    from kfp import dsl
    from stack_http import call

    @dsl.component(base_image="python:3.11")
    def count_bytes(data: dsl.Input[dsl.Dataset]) -> int:
        with open(data.path, "rb") as handle:
            return len(handle.read())

    @dsl.pipeline(name="import-and-count")
    def import_and_count(uri: str) -> int:
        imported = dsl.importer(artifact_uri=uri, artifact_class=dsl.Dataset, reimport=True)
        return count_bytes(data=imported.output).output

    client = kfp.Client(host=stack.url, existing_token=stack.token)
    created = client.create_run_from_pipeline_func(
        import_and_count, arguments={"uri": uri}, enable_caching=False, namespace="default"
    )
    client.wait_for_run_completion(created.run_id, timeout=180, sleep_duration=0.2)
    return call(stack, "GET", f"/runs/{created.run_id}").json()


def _count(run: dict) -> int:
    assert run["state"] == "SUCCEEDED", run.get("error")
    tasks = run["run_details"]["task_details"]
    [counter] = [t for t in tasks if t["display_name"] == "count-bytes"]
    return counter["output_parameters"]["Output"]


def test_runs_import_over_http_and_s3(importer_stack, http_url: str) -> None:
    assert _count(_import_run(importer_stack, f"{http_url}/data.bin")) == len(PAYLOAD)
    assert _count(_import_run(importer_stack, "s3://runs/in/table.csv")) == 12


def test_an_unreachable_importer_fails_the_run_with_the_reason(importer_stack, http_url) -> None:
    for uri, reason in (
        ("gs://bucket/model", "gs://bucket/model"),
        (f"{http_url}/missing.bin", "HTTP 404"),
        ("s3://runs/in/absent.csv", "no object with that key or prefix"),
    ):
        run = _import_run(importer_stack, uri)
        assert run["state"] == "FAILED", uri
        [importer] = [t for t in run["run_details"]["task_details"] if t["state"] == "FAILED"]
        assert reason in importer["error"]["message"], importer["error"]
