"""A package's build backend runs as the step, not as the stack (issue 20).

An sdist whose PEP 517 backend (in the sdist, ``backend-path``) tries to read the stack's
token, ``/etc/shadow``, the data dir and another namespace's run, and to write a marker into
``/root`` and the data dir, is served from a real package index on loopback. ``alice`` runs
a step with ``packages_to_install`` naming it, then ``bob`` does in his namespace. The
backend reports what it could do in the module it builds (the one place a sandboxed build
writes that outlives it: the environment); the test reads each environment's report as the
attacker would. (No ``from __future__ import annotations``: kfp reads the
components' annotations.)
"""

import inspect
import io
import json
import tarfile
import textwrap
import uuid
from pathlib import Path

import fixtures_pkgindex
import pytest
from kfp import dsl
from step_rights_helpers import (
    SHADOW,
    assert_no_secret,
    attack_stack,
    compile_spec,
    is_root,
    run,
    task,
    task_log,
)

from jupyter_dsp.stack.context import TOKEN_FILE

pytestmark = pytest.mark.skipif(not is_root(), reason="the attack needs a stack run as root")

BACKEND = """
import json, os, pathlib
{wheel_source}

TARGETS = {targets!r}
MARKERS = {markers!r}


def _probe():
    report = {{"uid": os.getuid(), "tmpdir": os.environ.get("TMPDIR", ""),
               "secrets": sorted(k for k in os.environ
                                 if "TOKEN" in k or k.startswith(("JUPYTER", "DSP_")))}}
    for label, path in TARGETS.items():
        try:
            if os.path.isdir(path):
                report[label] = "listed " + ",".join(sorted(os.listdir(path)))
            else:
                report[label] = "read " + pathlib.Path(path).read_text(errors="replace")
        except OSError as exc:
            report[label] = "denied " + type(exc).__name__
    for label, path in MARKERS.items():
        try:
            pathlib.Path(path).write_text("pwned")
            report[label] = "written"
        except OSError as exc:
            report[label] = "denied " + type(exc).__name__
    return report


def get_requires_for_build_wheel(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    report = _probe()
    body = "VALUE = 'built'\\nREPORT = " + repr(json.dumps(report)) + "\\n"
    return build_wheel_file(pathlib.Path(wheel_directory), "dsp-evil-build", "1.0", body).name
"""


def _publish_sdist(index, targets: dict, markers: dict) -> None:
    wheel_source = inspect.getsource(fixtures_pkgindex._record_hash) + inspect.getsource(
        fixtures_pkgindex.build_wheel
    ).replace("def build_wheel(", "def build_wheel_file(")
    backend = BACKEND.format(
        wheel_source="import base64, hashlib, zipfile\nfrom pathlib import Path\n" + wheel_source,
        targets=targets,
        markers=markers,
    )
    files = {
        "pyproject.toml": textwrap.dedent(
            """\
            [build-system]
            requires = []
            build-backend = "evil_backend"
            backend-path = ["."]

            [project]
            name = "dsp-evil-build"
            version = "1.0"
            """
        ),
        "evil_backend.py": backend,
        "PKG-INFO": "Metadata-Version: 2.1\nName: dsp-evil-build\nVersion: 1.0\n",
    }
    project = index.root / "simple" / "dsp-evil-build"
    project.mkdir(parents=True, exist_ok=True)
    sdist = project / "dsp_evil_build-1.0.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"dsp_evil_build-1.0/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    (project / "index.html").write_text(
        f'<!DOCTYPE html><html><body><a href="{sdist.name}">{sdist.name}</a></body></html>'
    )


def _reports(data_dir: Path) -> list[dict]:
    """Each built environment's report (what its build backend could do)."""
    found = sorted(
        (data_dir / "environments" / "envs").glob(
            "*/lib/python*/site-packages/dsp_evil_build/__init__.py"
        )
    )
    reports = []
    for module in found:
        scope: dict = {}
        exec(module.read_text(), scope)  # the test's own module text: two assignments
        reports.append(json.loads(scope["REPORT"]))
    return reports


def test_a_build_backend_runs_as_the_step_and_reads_nothing(
    stack_factory, tmp_path, package_index
) -> None:
    h = attack_stack(stack_factory)
    marker = f"dsp-pwned-{uuid.uuid4().hex[:8]}"
    targets = {
        "token": str(h.data_dir / TOKEN_FILE),
        "shadow": str(SHADOW),
        "data_dir": str(h.data_dir),
        "runs": str(h.data_dir / "runs"),
    }
    markers = {"root_marker": f"/root/{marker}", "data_marker": str(h.data_dir / marker)}
    _publish_sdist(package_index, targets, markers)

    @dsl.component(
        base_image="python:3.11",
        packages_to_install=["dsp-evil-build==1.0"],
        pip_index_urls=[package_index.url],
    )
    def use_it() -> str:
        import dsp_evil_build

        return dsp_evil_build.VALUE

    @dsl.pipeline(name="evil-build")
    def evil_build() -> str:
        step = use_it()
        step.set_caching_options(False)  # every run builds or reuses, none is CACHED
        return step.output

    spec = compile_spec(evil_build, tmp_path)
    first = run(h, "alice", "team-a", spec)
    assert first["state"] == "SUCCEEDED", first.get("error")
    assert task(first, "use-it")["output_parameters"]["Output"] == "built"
    [report] = _reports(h.data_dir)  # the backend ran once, for alice's build
    assert report["uid"] != 0
    for label in (*targets, *markers):
        assert report[label].startswith("denied"), (label, report[label])
    assert report["secrets"] == []
    assert not Path("/root", marker).exists() and not (h.data_dir / marker).exists()
    assert_no_secret(h, json.dumps(report) + json.dumps(first))
    log = task_log(h, "alice", first, "use-it")
    assert "Creating an environment for dsp-evil-build==1.0" in log

    # the built environment is the stack's again and read-only for the steps
    [env] = list((h.data_dir / "environments" / "envs").iterdir())
    for path in [env, *env.rglob("*")]:
        st = path.lstat()
        assert st.st_uid == 0, path
        if not path.is_symlink():
            assert st.st_mode & 0o022 == 0, path

    # bob, in his own namespace, never gets alice's environment: his own build runs
    second = run(h, "bob", "other", spec)
    assert second["state"] == "SUCCEEDED", second.get("error")
    bob_log = task_log(h, "bob", second, "use-it")
    assert "Creating an environment" in bob_log and "Reusing the environment" not in bob_log
    assert len(list((h.data_dir / "environments" / "envs").iterdir())) == 2
    reports = _reports(h.data_dir)
    assert len(reports) == 2
    for seen in reports:  # bob's build ran as his step: no more than alice's did
        assert seen["uid"] != 0
        assert all(seen[label].startswith("denied") for label in (*targets, *markers)), seen
    # alice again: her namespace's environment is reused, the backend does not run again
    third = run(h, "alice", "team-a", spec)
    assert "Reusing the environment" in task_log(h, "alice", third, "use-it")
    assert len(_reports(h.data_dir)) == 2
