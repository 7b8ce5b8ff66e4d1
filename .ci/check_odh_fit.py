"""Does jupyter-dsp install into an Open Data Hub workbench without moving its packages?

Builds (or reuses) a virtualenv under /tmp holding the package set of ODH's Data Science
workbench image (opendatahub-io/notebooks ``jupyter/datascience/ubi9-python-3.12``: Python
3.12, kfp~=2.14.3, jupyterlab==4.4.7, jupyter-server~=2.17.0, jupyter-server-proxy~=4.4.0,
odh-elyra==4.2.4, boto3~=1.40, pandas 2.3, matplotlib 3.10, plotly 6.3), builds this
package's wheel, and asks pip what ``pip install <wheel>`` would do there
(``pip install --dry-run --report``). Prints every package that would be added and every one
whose installed version would change; exits 1 if any would change.

    python .ci/check_odh_fit.py [--venv /tmp/jdsp-odh-fit] [--python 3.12]

Never touches the environment it runs from.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import uv

ODH_DATASCIENCE = [
    "kfp~=2.14.3",
    "jupyterlab==4.4.7",
    "jupyter-server~=2.17.0",
    "jupyter-server-proxy~=4.4.0",
    "odh-elyra==4.2.4",
    "boto3~=1.40.0",
    "pandas~=2.3.0",
    "matplotlib~=3.10.0",
    "plotly~=6.3.0",
]
REPO = Path(__file__).resolve().parents[1]


def run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, text=True, capture_output=True, **kwargs)  # type: ignore[call-overload]
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"failed: {' '.join(argv)}")
    return done


def find_python(version: str) -> str:
    """A local interpreter of that version (never downloaded), else this one."""
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    done = subprocess.run(
        [uv.find_uv_bin(), "python", "find", version], text=True, capture_output=True, env=env
    )
    if done.returncode == 0 and done.stdout.strip():
        return done.stdout.strip()
    candidates = sorted(Path.home().glob(f".pyenv/versions/{version}.*/bin/python{version}"))
    candidates += [Path(p) for p in [shutil.which(f"python{version}")] if p]
    for candidate in candidates:  # a pyenv shim may exist without the version behind it
        if subprocess.run([str(candidate), "-c", "pass"], capture_output=True).returncode == 0:
            return str(candidate)
    print(f"(no Python {version} here; using {sys.executable})")
    return sys.executable


def workbench_venv(path: Path, python: str) -> Path:
    """The ODH package set in a venv with pip (rebuilt when the set changes)."""
    marker = path / ".odh-set.json"
    wanted = json.dumps({"python": python, "packages": ODH_DATASCIENCE})
    venv_python = path / "bin" / "python"
    if marker.exists() and marker.read_text() == wanted and venv_python.exists():
        return venv_python
    shutil.rmtree(path, ignore_errors=True)
    uv_bin = uv.find_uv_bin()
    run([uv_bin, "venv", "--quiet", "--seed", "--python", python, str(path)])
    run([uv_bin, "pip", "install", "--quiet", "--python", str(venv_python), *ODH_DATASCIENCE])
    marker.write_text(wanted)
    return venv_python


def installed(venv_python: Path) -> dict[str, str]:
    listing = run([str(venv_python), "-m", "pip", "list", "--format=json"]).stdout
    return {item["name"].lower().replace("_", "-"): item["version"] for item in json.loads(listing)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, default=Path("/tmp/jdsp-odh-fit"))
    parser.add_argument("--python", default="3.12")
    parser.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="REQ",
        help="extra requirement for the dry run (e.g. 'kfp>=2.17' shows what a pin would move)",
    )
    args = parser.parse_args()
    started = time.monotonic()
    venv_python = workbench_venv(args.venv, find_python(args.python))
    before = installed(venv_python)
    with tempfile.TemporaryDirectory(prefix="jdsp-wheel-") as out:
        run([uv.find_uv_bin(), "build", "--wheel", "--out-dir", out, str(REPO)])
        wheel = next(Path(out).glob("jupyter_dsp-*.whl"))
        report_path = Path(out) / "report.json"
        run(
            [
                str(venv_python),
                "-m",
                "pip",
                "install",
                "--dry-run",
                "--quiet",
                "--disable-pip-version-check",
                "--report",
                str(report_path),
                str(wheel),
                *args.also,
            ]
        )
        report = json.loads(report_path.read_text())
    added, changed = [], []
    for item in report.get("install", []):
        meta = item.get("metadata", {})
        name = str(meta.get("name", "")).lower().replace("_", "-")
        version = str(meta.get("version", ""))
        if name in before and before[name] != version:
            changed.append(f"{name} {before[name]} -> {version}")
        elif name not in before:
            added.append(f"{name}=={version}")
    kfp = before.get("kfp", "?")
    version = run([str(venv_python), "-c", "import sys; print(sys.version.split()[0])"]).stdout
    print(
        f"ODH Data Science workbench set on Python {version.strip()}: {len(before)} packages "
        f"(kfp {kfp}, "
        f"jupyterlab {before.get('jupyterlab', '?')}, jupyter-server "
        f"{before.get('jupyter-server', '?')}, odh-elyra {before.get('odh-elyra', '?')})"
    )
    print(f"pip install jupyter-dsp would add {len(added)}: {', '.join(sorted(added))}")
    if changed:
        print(f"and CHANGE {len(changed)} installed package(s):")
        for line in sorted(changed):
            print(f"  {line}")
    else:
        print("and change no installed version")
    print(f"({time.monotonic() - started:.0f} s)")
    return 1 if changed else 0


if __name__ == "__main__":
    raise SystemExit(main())
