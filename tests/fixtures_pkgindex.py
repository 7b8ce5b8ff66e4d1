"""A real PEP 503 package index on loopback, serving tiny pure-Python wheels built here.

- ``package_index`` (session): ``.url`` is the index URL (``http://127.0.0.1:N/simple``);
  ``.add(name, version, body)`` builds ``name`` (a module of that name whose source is
  ``body``) as a wheel and publishes it; ``.requests`` counts the wheel downloads.

Steps that install from it never reach PyPI, so the tests of per-step environments run
offline and see exactly what the installer fetched.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode()


def build_wheel(directory: Path, name: str, version: str, body: str) -> Path:
    """A valid ``py3-none-any`` wheel holding module ``name`` (RECORD with hashes)."""
    module = name.replace("-", "_")
    dist_info = f"{module}-{version}.dist-info"
    files = {
        f"{module}/__init__.py": body.encode(),
        f"{dist_info}/METADATA": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        ).encode(),
        f"{dist_info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: jupyter-dsp-tests\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n"
        ),
    }
    record = "".join(f"{path},{_record_hash(data)},{len(data)}\n" for path, data in files.items())
    record += f"{dist_info}/RECORD,,\n"
    files[f"{dist_info}/RECORD"] = record.encode()
    path = directory / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in files.items():
            archive.writestr(member, data)
    return path


class PackageIndex:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = ""
        self.requests: dict[str, int] = {}
        self._server: http.server.ThreadingHTTPServer | None = None

    def add(self, name: str, version: str = "1.0", body: str = "VALUE = 1\n") -> Path:
        normalized = name.lower().replace("_", "-")
        project = self.root / "simple" / normalized
        project.mkdir(parents=True, exist_ok=True)
        wheel = build_wheel(project, name, version, body)
        links = "".join(f'<a href="{w.name}">{w.name}</a>\n' for w in sorted(project.glob("*.whl")))
        (project / "index.html").write_text(f"<!DOCTYPE html><html><body>\n{links}</body></html>")
        return wheel

    def start(self) -> None:
        index = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
                super().__init__(*args, directory=str(index.root), **kwargs)

            def do_GET(self) -> None:  # noqa: N802
                if self.path.endswith(".whl"):
                    key = self.path.rsplit("/", 1)[-1]
                    index.requests[key] = index.requests.get(key, 0) + 1
                super().do_GET()

            def log_message(self, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{port}/simple"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@pytest.fixture(scope="session")
def package_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PackageIndex]:
    index = PackageIndex(tmp_path_factory.mktemp("pkgindex"))
    (index.root / "simple").mkdir()
    index.start()
    try:
        yield index
    finally:
        index.stop()
