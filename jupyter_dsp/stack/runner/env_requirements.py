"""What a step's package environment is made of: the requirements its install prologue asks
for, the server's versions as constraints, the key an environment is known by (the package
set, the index URLs, the server's Python and the namespace that built it), and how a step
runs with it. Plain functions; :mod:`environments` builds and keeps the environments.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path


class EnvironmentBuildError(Exception):
    """The packages of a step could not be installed (the message names them and says why)."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


def uv_binary() -> str:
    """The ``uv`` executable of the installed ``uv`` package (its public API)."""
    try:
        import uv
    except ImportError as exc:  # pragma: no cover - uv is a dependency
        raise EnvironmentBuildError(
            "steps with packages_to_install need the 'uv' package (pip install uv)"
        ) from exc
    return uv.find_uv_bin()


def environment_key(packages: Iterable[str], index_urls: Iterable[str], namespace: str = "") -> str:
    """A stable name for a package set on this server's Python, built for ``namespace`` (one
    namespace's environment is never another's)."""
    identity: dict[str, object] = {
        "packages": sorted({p.strip() for p in packages if p.strip()}),
        "index_urls": [u.strip() for u in index_urls if u.strip()],
        "python": sys.executable,
        "version": sys.version,
    }
    if namespace:
        identity["namespace"] = namespace
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    return digest[:24]


def step_install_request(full_command: list[str]) -> tuple[list[str], list[str]]:
    """``(packages, index_urls)`` that a compiled step's install prologue asks for (kfp
    itself left out: the server's kfp is used); ``([], [])`` for a step without one."""
    import shlex

    from jupyter_dsp.stack.runner.prologue import read_prologue

    prologue = read_prologue(full_command)
    if not prologue.present:
        return [], []
    urls: list[str] = []
    try:
        tokens = shlex.split(full_command[2])
    except ValueError:
        tokens = full_command[2].split()
    for option, value in zip(tokens, tokens[1:], strict=False):
        if option in ("--index-url", "-i", "--extra-index-url") and value not in urls:
            urls.append(value)
    return list(prologue.packages), urls


def step_environ(python: str, environ: dict[str, str]) -> dict[str, str]:
    """The variables to run a step with ``python``: its venv's ``bin`` first on PATH (the
    compiled command calls ``python3``), ``VIRTUAL_ENV`` set. Unchanged for the server's."""
    if python == sys.executable:
        return dict(environ)
    bin_dir = str(Path(python).parent)
    path = environ.get("PATH", os.defpath)
    venv = str(Path(bin_dir).parent)
    return {**environ, "PATH": bin_dir + os.pathsep + path, "VIRTUAL_ENV": venv}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requested_names(packages: Iterable[str]) -> set[str]:
    """Canonical project names of requirement strings (URLs and paths are skipped)."""
    from packaging.requirements import InvalidRequirement, Requirement

    names = set()
    for package in packages:
        try:
            names.add(_canonical(Requirement(package).name))
        except InvalidRequirement:
            continue
    return names


def server_constraints(exclude: Iterable[str] = ()) -> list[str]:
    """``name==version`` for every distribution of the server's environment, except the
    projects the step asks for by name (its own requirements win)."""
    skip = {_canonical(name) for name in exclude}
    seen: dict[str, str] = {}
    for dist in metadata.distributions():
        name = (dist.metadata["Name"] or "").strip()
        key = _canonical(name)
        if name and dist.version and key not in seen and key not in skip:
            seen[key] = f"{name}=={dist.version}"
    return sorted(seen.values())


def runtime_kfp_requirement(full_command: list[str]) -> str | None:
    """``kfp==X`` when a compiled step pins a kfp newer than the server's (its prologue
    installs ``kfp==X`` on a cluster): such a step may use SDK features the server's kfp
    lacks (e.g. ``dsl.EmbeddedInput`` in 2.15+), so its environment gets that kfp. None when
    the server's kfp is the same or newer, or the step pins none."""
    from packaging.version import InvalidVersion, Version

    if len(full_command) < 3 or "pip install" not in full_command[2]:
        return None
    match = re.search(r"""['"\s]kfp==([0-9][^'"\s]*)""", full_command[2])
    if not match:
        return None
    try:
        wanted = Version(match.group(1))
        installed = Version(metadata.version("kfp"))
    except (InvalidVersion, metadata.PackageNotFoundError):
        return None
    return f"kfp=={wanted}" if wanted > installed else None


def server_site_dirs() -> list[str]:
    """The server's site-packages directories (a virtualenv's as well as the base's)."""
    import site

    dirs = [d for d in site.getsitepackages() if os.path.isdir(d)]
    return list(dict.fromkeys(dirs))
