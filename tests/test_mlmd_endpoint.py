"""Where the ML Metadata store is found, per cluster kind, and how DSPSettings override it."""

from __future__ import annotations

import pytest
from fake_kube_api import make_dspa
from mlmd_kfp_run import PIPELINE_SPEC

from jupyter_dsp.connection import DSPSettings, resolve
from jupyter_dsp.results import cluster as mlmd_results
from jupyter_dsp.results.cluster import cluster_results, endpoint_for
from jupyter_dsp.results.mlmd.endpoint import MLMDEndpoint, discover
from jupyter_dsp.results.mlmd.reader import MLMDReader

pytest_plugins = ("fixtures_cluster",)


@pytest.fixture(autouse=True)
def fresh_status_cache():
    mlmd_results._status_cache.clear()
    yield
    mlmd_results._status_cache.clear()


def test_dspa_store_is_its_mlmd_proxy_over_grpc_web(sa_dir, fake_kube):
    fake_kube.dspas["team-a"] = [make_dspa("dspa", "team-a", url="https://api.example:8443")]
    settings = DSPSettings.load(config_paths=[])
    conn = resolve(settings, probe=False)
    assert conn.mode == "cluster-dspa"
    ep = discover(conn, settings)
    assert ep is not None
    assert ep.target == "https://ds-pipeline-md-dspa.team-a.svc.cluster.local:8443"
    assert (ep.transport, ep.tls, ep.namespace_check) == ("grpc-web", True, False)
    assert ep.token() == sa_dir.token  # the workbench's token, re-read when it rotates
    sa_dir.rotate()
    assert ep.token() == sa_dir.token
    assert "ds-pipeline-user-access-dspa" in (ep.grant or "")


def test_dspa_status_names_the_proxy_when_readable(sa_dir, fake_kube):
    item = make_dspa("lab", "team-a", url="https://api.example:8443")
    item["status"]["components"]["mlmdProxy"] = {"url": "https://md-lab.team-a.example:8443"}
    fake_kube.dspas["team-a"] = [item]
    settings = DSPSettings.load(config_paths=[])
    conn = resolve(settings, probe=False)
    ep = endpoint_for(conn, settings)
    assert ep is not None and ep.target == "https://md-lab.team-a.example:8443"
    assert "status.components.mlmdProxy" in ep.how


def test_kubeflow_store_is_the_grpc_service_with_a_namespace_check(sa_dir, fake_kube):
    settings = DSPSettings.load(config_paths=[])
    conn = resolve(settings, probe=False)
    assert conn.mode == "cluster-kubeflow"
    ep = discover(conn, settings)
    assert ep is not None
    assert (ep.target, ep.transport, ep.tls) == (
        "metadata-grpc-service.kubeflow:8080",
        "grpc",
        False,
    )
    assert ep.namespace_check is True and ep.token() is None  # the store takes no token


def test_settings_override_and_bad_transport(sa_dir, fake_kube, clean_dsp_env):
    clean_dsp_env.setenv("JUPYTER_DSP_MLMD_ENDPOINT", "grpcs://mlmd.example:9443")
    settings = DSPSettings.load(config_paths=[])
    conn = resolve(settings, probe=False)
    ep = discover(conn, settings)
    assert ep is not None and (ep.target, ep.transport, ep.tls) == (
        "mlmd.example:9443",
        "grpc",
        True,
    )
    assert ep.how == "DSPSettings.mlmd_endpoint"
    clean_dsp_env.setenv("JUPYTER_DSP_MLMD_ENDPOINT", "https://md.example:8443")
    settings = DSPSettings.load(config_paths=[])
    ep = discover(conn, settings)
    assert ep is not None and ep.transport == "grpc-web" and ep.tls
    clean_dsp_env.setenv("JUPYTER_DSP_MLMD_TRANSPORT", "http2")
    settings = DSPSettings.load(config_paths=[])
    doc = cluster_results(conn, settings, {"run_id": "r1", "state": "RUNNING"}, sizes=False)
    assert doc["unavailable"] == (
        "ML Metadata: mlmd_transport 'http2' is not one of grpc, grpc-web "
        "(set DSPSettings.mlmd_transport or JUPYTER_DSP_MLMD_TRANSPORT)"
    )


def test_a_stack_with_no_known_store_says_what_to_set(clean_dsp_env, tmp_path):
    clean_dsp_env.setenv("JUPYTER_DSP_SA_DIR", str(tmp_path / "no-sa"))
    settings = DSPSettings.load(config_paths=[])
    settings.endpoint = "https://kfp.example.com"
    conn = resolve(settings, probe=False)
    assert conn.mode == "configured" and discover(conn, settings) is None
    doc = cluster_results(conn, settings, {"run_id": "r1", "state": "SUCCEEDED"})
    assert doc["tasks"] == [] and "set DSPSettings.mlmd_endpoint" in doc["unavailable"]


def test_grpc_over_tls_with_the_service_ca(mlmd_cluster):
    plain = MLMDEndpoint(target=mlmd_cluster.grpc_target, transport="grpc", how="test")
    tls = MLMDEndpoint(
        target=mlmd_cluster.grpcs_target,
        transport="grpc",
        how="test",
        tls=True,
        ca_bundle=str(mlmd_cluster.ca_path),
    )
    with MLMDReader(plain) as a, MLMDReader(tls) as b:
        assert a.read_run("run-team-a-1", None, PIPELINE_SPEC) == b.read_run(
            "run-team-a-1", None, PIPELINE_SPEC
        )
