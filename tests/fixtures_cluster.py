"""Fixtures for cluster-mode tests: a temporary service-account directory whose token can be
rotated the way kubelet does it, and the fake Kubernetes API that checks that token."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from fake_kube_api import FakeKube, FakeKubeServer

ENV_TO_CLEAR = (
    "KF_PIPELINES_ENDPOINT",
    "KF_PIPELINES_SA_TOKEN_PATH",
    "KF_PIPELINES_SSL_SA_CERTS",
    "PIPELINES_SSL_SA_CERTS",
    "REQUESTS_CA_BUNDLE",
    "SSL_CERT_FILE",
    "KUBERNETES_SERVICE_HOST",
    "KUBERNETES_SERVICE_PORT",
)


def make_jwt(subject: str, serial: int = 0) -> str:
    def b64(data: dict) -> str:
        raw = json.dumps(data).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    ns, name = subject.split(":")[2:4]
    claims = {
        "sub": subject,
        "aud": ["https://kubernetes.default.svc"],
        "iat": 1_700_000_000 + serial,
        "kubernetes.io": {"namespace": ns, "serviceaccount": {"name": name}},
    }
    return f"{b64({'alg': 'RS256', 'kid': 'k'})}.{b64(claims)}.sig{serial}"


class ServiceAccountDir:
    """Like the projected volume kubelet mounts: files are symlinks into ``..data``,
    which is swapped atomically on rotation."""

    def __init__(
        self, root: Path, namespace: str, name: str = "nb", token: str | None = None
    ) -> None:
        self.root = root
        self.namespace = namespace
        self.subject = f"system:serviceaccount:{namespace}:{name}"
        self.serial = 0
        root.mkdir(parents=True, exist_ok=True)
        self._publish({"namespace": namespace, "token": token or make_jwt(self.subject)})
        for name_ in ("namespace", "token"):
            os.symlink(os.path.join("..data", name_), root / name_)

    @property
    def token(self) -> str:
        return (self.root / "token").read_text().strip()

    def rotate(self, token: str | None = None) -> str:
        """Swap in a new token (a fresh JWT unless one is given), as kubelet does."""
        self.serial += 1
        token = token or make_jwt(self.subject, self.serial)
        self._publish({"namespace": self.namespace, "token": token})
        return token

    def add_file(self, name: str, content: str) -> Path:
        path = self.root / name
        path.write_text(content)
        return path

    def _publish(self, files: dict[str, str]) -> None:
        ts = self.root / f"..{self.serial}"
        ts.mkdir()
        for name, content in files.items():
            (ts / name).write_text(content)
        tmp = self.root / "..data_tmp"
        if tmp.is_symlink():
            tmp.unlink()
        os.symlink(ts.name, tmp)
        os.replace(tmp, self.root / "..data")


@pytest.fixture
def clean_dsp_env(monkeypatch):
    for key in list(os.environ):
        if key.startswith("JUPYTER_DSP_") or key in ENV_TO_CLEAR:
            monkeypatch.delenv(key, raising=False)
    return monkeypatch


@pytest.fixture
def sa_dir(tmp_path, clean_dsp_env) -> ServiceAccountDir:
    sa = ServiceAccountDir(tmp_path / "serviceaccount", "team-a")
    clean_dsp_env.setenv("JUPYTER_DSP_SA_DIR", str(sa.root))
    clean_dsp_env.setenv("JUPYTER_DSP_RUNTIMES_DIR", str(tmp_path / "runtimes"))
    clean_dsp_env.setenv("JUPYTER_DSP_KUBEFLOW_TOKEN_PATH", str(tmp_path / "no-kubeflow-token"))
    return sa


@pytest.fixture
def fake_kube(sa_dir, clean_dsp_env):
    server = FakeKubeServer(lambda token: token == sa_dir.token)
    kube: FakeKube = server.start()
    clean_dsp_env.setenv("JUPYTER_DSP_KUBE_API_URL", kube.url)
    yield kube
    server.stop()
