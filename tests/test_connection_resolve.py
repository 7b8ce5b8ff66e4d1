"""Resolution of the pipeline stack: cluster discovery (env, ODH runtime file, the DSPA read
from a fake Kubernetes API, Kubeflow), tokens that rotate, CA order, spaces and policy."""

from __future__ import annotations

import json
import os
import stat

import pytest
from fake_kube_api import make_dspa

from jupyter_dsp.connection import DSPSettings, NoStackFound, resolve
from jupyter_dsp.connection.embedded import EmbeddedInfo, runtime_file, write_runtime_file
from jupyter_dsp.connection.tokens import TokenFile, identity_from_token

pytest_plugins = ("fixtures_cluster",)


def settings() -> DSPSettings:
    return DSPSettings.load(config_paths=[])


def test_out_of_cluster_without_stack_says_what_was_tried(clean_dsp_env, tmp_path):
    clean_dsp_env.setenv("JUPYTER_DSP_SA_DIR", str(tmp_path / "nowhere"))
    clean_dsp_env.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    clean_dsp_env.setenv("JUPYTER_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(NoStackFound) as err:
        resolve(settings(), probe=False)
    text = str(err.value)
    assert "not in a cluster" in text
    assert "jupyter-dsp-stack.json" in text
    assert "JUPYTER_DSP_ENDPOINT" in text


def test_embedded_runtime_file_is_private_and_read_by_resolve(clean_dsp_env, tmp_path):
    clean_dsp_env.setenv("JUPYTER_DSP_SA_DIR", str(tmp_path / "nowhere"))
    clean_dsp_env.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    clean_dsp_env.setenv("JUPYTER_DATA_DIR", str(tmp_path / "data"))
    # announced by this (live) process
    path = write_runtime_file(
        EmbeddedInfo("http://127.0.0.1:1", "tok-embedded", os.getpid(), os.getpid(), "lab")
    )
    assert path == runtime_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    conn = resolve(settings(), probe=False)
    assert conn.mode == "embedded"
    assert conn.namespace == "lab"
    assert conn.project.token() == "tok-embedded"
    assert "tok-embedded" not in conn.identity
    # the embedded stack is multi-user: shared is the same stack with namespace ""
    assert conn.shared is not None and conn.shared.namespace == ""
    assert conn.shared.endpoint == conn.project.endpoint
    assert conn.policy == "read-write" and conn.shared.writable


def test_dead_embedded_stack_is_no_stack(clean_dsp_env, tmp_path):
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    clean_dsp_env.setenv("JUPYTER_DSP_SA_DIR", str(tmp_path / "nowhere"))
    clean_dsp_env.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    clean_dsp_env.setenv("JUPYTER_DATA_DIR", str(tmp_path / "data"))
    write_runtime_file(EmbeddedInfo("http://127.0.0.1:1", "t", dead.pid, dead.pid, "default"))
    with pytest.raises(NoStackFound, match="have exited"):
        resolve(settings(), probe=False)


def test_stack_serving_the_data_dir_is_found(clean_dsp_env, tmp_path, stack_factory):
    """`jupyter-dsp stack serve --data-dir <jupyter data dir>/dsp/stack`, no server running."""
    clean_dsp_env.setenv("JUPYTER_DSP_SA_DIR", str(tmp_path / "nowhere"))
    clean_dsp_env.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    clean_dsp_env.setenv("JUPYTER_DATA_DIR", str(tmp_path / "data"))
    handle = stack_factory(data_dir=tmp_path / "data" / "dsp" / "stack")
    conn = resolve(settings())
    assert conn.mode == "embedded"
    assert conn.project.endpoint == handle.url
    assert conn.project.token() == handle.token
    assert conn.project.health_error is None and conn.project.multi_user is True


def test_kf_pipelines_endpoint_in_cluster(sa_dir, clean_dsp_env):
    clean_dsp_env.setenv("KF_PIPELINES_ENDPOINT", "http://pipelines.example:8888/")
    conn = resolve(settings(), probe=False)
    assert conn.mode == "configured"
    assert conn.project.endpoint == "http://pipelines.example:8888"
    assert conn.namespace == "team-a"
    assert conn.identity == "system:serviceaccount:team-a:nb"
    assert conn.project.token() == sa_dir.token


def test_odh_runtime_file_gives_the_endpoint(sa_dir, clean_dsp_env, tmp_path):
    runtimes = tmp_path / "runtimes"
    runtimes.mkdir()
    (runtimes / "odh_dsp.json").write_text(
        json.dumps(
            {
                "display_name": "Data Science Pipeline",
                "schema_name": "kfp",
                "metadata": {
                    "api_endpoint": "https://ds-pipeline-dspa-team-a.apps.example.com",
                    "public_api_endpoint": "https://dashboard.example.com/experiments/team-a/",
                    "auth_type": "KUBERNETES_SERVICE_ACCOUNT_TOKEN",
                    "engine": "Argo",
                },
            }
        )
    )
    conn = resolve(settings(), probe=False)
    assert conn.mode == "cluster-dspa"
    assert conn.project.endpoint == "https://ds-pipeline-dspa-team-a.apps.example.com"


def test_dspa_discovered_through_kubernetes_api(sa_dir, fake_kube):
    url = "https://ds-pipeline-dspa.team-a.svc.cluster.local:8443"
    fake_kube.dspas["team-a"] = [
        make_dspa("other", "team-a", ready=False),
        make_dspa("dspa", "team-a", url=url),
    ]
    conn = resolve(settings(), probe=False)
    assert conn.mode == "cluster-dspa"
    assert conn.dspa_name == "dspa"
    assert conn.project.endpoint == url
    assert conn.project.multi_user is False
    # single-user DSPA and no catalog stack: the shared space is the platform's managed
    # pipelines of the project stack (read-only), which the project space hides
    assert conn.shared.managed == "only" and conn.shared.endpoint == url
    assert conn.shared.writable is False and conn.project.managed == "hide"
    method, path, auth = fake_kube.requests[-1]
    assert path.endswith("/namespaces/team-a/datasciencepipelinesapplications")
    assert auth == f"Bearer {sa_dir.token}"


def test_dspa_without_status_url_uses_service_name(sa_dir, fake_kube, clean_dsp_env):
    fake_kube.dspas["team-a"] = [make_dspa("sample", "team-a")]
    clean_dsp_env.setenv("JUPYTER_DSP_DSPA_NAME", "sample")
    conn = resolve(settings(), probe=False)
    assert conn.project.endpoint == "https://ds-pipeline-sample.team-a.svc.cluster.local:8443"


def test_kube_token_rotation_is_picked_up(sa_dir, fake_kube):
    """The fake API accepts only the current token; rotating it between calls still works."""
    url = "https://ds-pipeline-dspa.team-a.svc.cluster.local:8443"
    fake_kube.dspas["team-a"] = [make_dspa("dspa", "team-a", url=url)]
    first = resolve(settings(), probe=False)
    old = sa_dir.token
    new = sa_dir.rotate()
    assert new != old
    # the project space re-reads the token file: the same Connection now sends the new token
    assert first.project.token() == new
    second = resolve(settings(), probe=False)
    assert second.project.endpoint == url
    assert fake_kube.requests[-1][2] == f"Bearer {new}"


def test_no_dspa_falls_back_to_kubeflow(sa_dir, fake_kube):
    conn = resolve(settings(), probe=False)
    assert conn.mode == "cluster-kubeflow"
    assert conn.project.endpoint == "http://ml-pipeline.kubeflow.svc.cluster.local:8888"
    assert conn.project.multi_user is True
    assert conn.shared is not None and conn.shared.namespace == ""
    # Kubeflow is not the embedded stack: shared is read-only unless the admin says otherwise
    assert conn.policy == "read-only" and not conn.shared.writable


def test_nothing_reachable_lists_every_step(sa_dir, fake_kube, clean_dsp_env):
    fake_kube.forbidden_namespaces.add("team-a")
    clean_dsp_env.setenv("JUPYTER_DSP_KUBEFLOW_ENDPOINT", "http://127.0.0.1:9")
    clean_dsp_env.setenv("JUPYTER_DSP_PROBE_TIMEOUT", "2")
    with pytest.raises(NoStackFound) as err:
        resolve(settings())
    text = str(err.value)
    assert "KF_PIPELINES_ENDPOINT: unset" in text
    assert "runtimes" in text
    assert "403" in text and "forbidden" in text
    assert "Kubeflow multi-user stack http://127.0.0.1:9" in text
    assert "JUPYTER_DSP_ENDPOINT" in text


def test_token_order_prefers_kf_pipelines_path_then_kubeflow_token(sa_dir, clean_dsp_env, tmp_path):
    clean_dsp_env.setenv("KF_PIPELINES_ENDPOINT", "http://p:8888")
    kubeflow = tmp_path / "kubeflow-token"
    kubeflow.write_text("kubeflow-audience-token\n")
    clean_dsp_env.setenv("JUPYTER_DSP_KUBEFLOW_TOKEN_PATH", str(kubeflow))
    assert resolve(settings(), probe=False).project.token() == "kubeflow-audience-token"
    explicit = tmp_path / "explicit"
    explicit.write_text("explicit-token")
    clean_dsp_env.setenv("KF_PIPELINES_SA_TOKEN_PATH", str(explicit))
    conn = resolve(settings(), probe=False)
    assert conn.project.token() == "explicit-token"
    assert "KF_PIPELINES_SA_TOKEN_PATH" in (conn.project.token_source or "")


def test_token_file_is_read_again_when_it_changes(tmp_path):
    path = tmp_path / "token"
    path.write_text("one")
    tf = TokenFile(str(path), "test")
    assert tf.read() == "one"
    replacement = tmp_path / "token.new"
    replacement.write_text("two")
    os.replace(replacement, path)
    assert tf.read() == "two"
    assert "two" not in repr(tf)


def test_ca_order(sa_dir, clean_dsp_env, tmp_path):
    clean_dsp_env.setenv("KF_PIPELINES_ENDPOINT", "https://p:8443")
    sa_dir.add_file("ca.crt", "kube ca")
    assert resolve(settings(), probe=False).project.ca_bundle == str(sa_dir.root / "ca.crt")
    sa_dir.add_file("service-ca.crt", "service ca")
    assert resolve(settings(), probe=False).project.ca_bundle == str(sa_dir.root / "service-ca.crt")
    bundle = tmp_path / "bundle.crt"
    bundle.write_text("bundle")
    clean_dsp_env.setenv("SSL_CERT_FILE", str(bundle))
    conn = resolve(settings(), probe=False)
    assert conn.project.ca_bundle == str(bundle) and conn.project.ca_source == "SSL_CERT_FILE"
    pipelines = tmp_path / "pipelines.crt"
    pipelines.write_text("pipelines")
    clean_dsp_env.setenv("KF_PIPELINES_SSL_SA_CERTS", str(pipelines))
    assert resolve(settings(), probe=False).project.ca_bundle == str(pipelines)


def test_tls_failure_names_the_ca_file(sa_dir, clean_dsp_env, tmp_path):
    """A plain-HTTP loopback listener behind an https:// endpoint fails the handshake."""
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def answer() -> None:
        try:
            conn, _ = listener.accept()
            conn.recv(1024)
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            conn.close()
        except OSError:
            pass

    threading.Thread(target=answer, daemon=True).start()
    port = listener.getsockname()[1]
    clean_dsp_env.setenv("KF_PIPELINES_ENDPOINT", f"https://127.0.0.1:{port}")
    import certifi

    # a real CA bundle, but the listener does not even speak TLS: the handshake fails
    ca = sa_dir.add_file("service-ca.crt", open(certifi.where()).read())
    try:
        conn = resolve(settings())
    finally:
        listener.close()
    assert conn.project.health_error is not None
    assert str(ca) in conn.project.health_error
    assert "JUPYTER_DSP_CA_BUNDLE" in conn.project.health_error


def test_shared_space_by_policy_and_catalog(sa_dir, clean_dsp_env):
    clean_dsp_env.setenv("KF_PIPELINES_ENDPOINT", "http://p:8888")
    clean_dsp_env.setenv("JUPYTER_DSP_MULTI_USER", "false")
    managed_only = resolve(settings(), probe=False).shared
    assert managed_only.managed == "only" and managed_only.writable is False
    clean_dsp_env.setenv("JUPYTER_DSP_SHARED_ENDPOINT", "http://catalog:8888")
    conn = resolve(settings(), probe=False)
    assert conn.shared is not None
    assert conn.shared.endpoint == "http://catalog:8888"
    assert conn.shared.namespace == ""
    assert conn.shared.writable is False  # read-only by default in a cluster
    clean_dsp_env.setenv("JUPYTER_DSP_SHARED_POLICY", "read-write")
    assert resolve(settings(), probe=False).shared.writable is True
    clean_dsp_env.setenv("JUPYTER_DSP_SHARED_POLICY", "off")
    conn = resolve(settings(), probe=False)
    assert conn.shared is None and conn.policy == "off"
    clean_dsp_env.setenv("JUPYTER_DSP_SHARED_POLICY", "sometimes")
    with pytest.raises(ValueError, match="read-write, read-only, off"):
        resolve(settings(), probe=False)


def test_endpoint_must_be_a_url(sa_dir, clean_dsp_env):
    from jupyter_dsp.connection import DSPConnectionError

    clean_dsp_env.setenv("JUPYTER_DSP_ENDPOINT", "ds-pipeline-dspa:8443")
    with pytest.raises(DSPConnectionError, match="http:// or https://"):
        resolve(settings(), probe=False)


def test_identity_never_echoes_a_token():
    assert identity_from_token("opaque-token") is None
    assert identity_from_token("a.b.c") is None
