"""Virtual environments for steps that install packages (``packages_to_install``).

One environment per distinct package set (requirements + index URLs + the server's Python),
created with ``uv`` under ``ROOT/envs/<key>`` and layered over the server's environment: the
venv sees the server's site-packages (``--system-site-packages``), so kfp and the step's
runtime come from there, and nothing is ever installed into the server's environment.

uv does not count the server's packages as installed, so a requirement that depends on
something the server has (requests, numpy...) would get its newest version in the venv,
shadowing the one kfp was installed with. The first attempt therefore installs with the
server's versions as constraints (same versions, nothing shadows differently); only if that
cannot be resolved does a second attempt install without them (the log says so).

Concurrency: worker processes of different runs share ``ROOT``. ``locks/<key>.build`` is held
exclusively while an environment is built (the others wait, then reuse it); ``locks/<key>.use``
is held shared by every process that was handed the environment, until :meth:`close` or
process exit, and eviction takes it exclusively without waiting, so an environment in use is
never removed. Environments are evicted least recently used first when their total size
exceeds ``max_bytes``. Downloads are cached in ``ROOT/uv-cache`` (hard-linked into the venvs).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import deque
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import BinaryIO

GiB = 1024**3
DEFAULT_MAX_BYTES = 5 * GiB
READY = ".jupyter-dsp-ready"  # written last: the environment is complete
INSTALL_TIMEOUT = 30 * 60  # seconds for one install attempt


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


def environment_key(packages: Iterable[str], index_urls: Iterable[str]) -> str:
    """A stable name for a package set on this server's Python."""
    identity = {
        "packages": sorted({p.strip() for p in packages if p.strip()}),
        "index_urls": [u.strip() for u in index_urls if u.strip()],
        "python": sys.executable,
        "version": sys.version,
    }
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


def _layer_over_server(env: Path) -> None:
    """Make the server's site-packages visible after the step's own (``--system-site-packages``
    alone reaches only the base interpreter's, not those of a server running in a venv).
    ``site.addsitedir`` also runs their ``.pth`` files (editable installs)."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site_packages = env / "lib" / version / "site-packages"
    lines = [f"import site; site.addsitedir({d!r})" for d in server_site_dirs()]
    (site_packages / "jupyter_dsp_server_env.pth").write_text("\n".join(lines) + "\n")


def _tree_size(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total


class StepEnvironments:
    """The environments of one stack (``ROOT`` is under the stack's data dir)."""

    def __init__(self, root: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.root = Path(root)
        self.max_bytes = int(max_bytes)
        self.envs = self.root / "envs"
        self.locks = self.root / "locks"
        self.uv_cache = self.root / "uv-cache"
        self._held: dict[str, int] = {}  # key -> fd of its shared use lock
        self.builds = 0  # environments this object built (tests and the bench read it)

    # ----- public API -----

    def python_for(self, packages: list[str], index_urls: list[str], log: BinaryIO) -> str:
        """The Python executable to run a step needing ``packages`` with (built if needed)."""
        packages = [p.strip() for p in packages if p and p.strip()]
        index_urls = [u.strip() for u in index_urls if u and u.strip()]
        if not packages:
            return sys.executable
        key = environment_key(packages, index_urls)
        self._prepare_dirs()
        self._hold_use(key)
        env = self.envs / key
        python = env / "bin" / "python"
        build_fd = self._lock(key, "build", fcntl.LOCK_EX)
        try:
            if (env / READY).exists():
                self._write(log, f"Reusing the environment for {', '.join(packages)}\n")
            else:
                try:
                    self._build(env, packages, index_urls, log)
                except BaseException:
                    shutil.rmtree(env, ignore_errors=True)
                    raise
                self.builds += 1
            (env / READY).touch()  # mtime = last use, for LRU
        finally:
            os.close(build_fd)
        self.evict(keep={key})
        return str(python)

    def evict(self, keep: Iterable[str] = ()) -> list[str]:
        """Remove least recently used environments until they fit ``max_bytes``."""
        kept = set(keep)
        entries = []
        for env in self._env_dirs():
            ready = env / READY
            try:
                used = ready.stat().st_mtime
                size = int((env / ".jupyter-dsp-size").read_text())
            except (OSError, ValueError):
                continue  # being built, or broken: the next builder redoes it
            entries.append((used, env.name, size))
        total = sum(size for _used, _key, size in entries)
        removed: list[str] = []
        for _used, key, size in sorted(entries):
            if total <= self.max_bytes:
                break
            if key in kept or key in self._held:
                continue
            if self._remove_if_unused(key):
                total -= size
                removed.append(key)
        if removed:
            self._prune_downloads()
        return removed

    def _prune_downloads(self) -> None:
        """Drop the download cache's entries that no environment can use any more."""
        try:
            subprocess.run(
                [uv_binary(), "cache", "prune", "--quiet"],
                env={**os.environ, "UV_CACHE_DIR": str(self.uv_cache)},
                stdin=subprocess.DEVNULL, capture_output=True, timeout=120,
            )
        except (OSError, subprocess.SubprocessError, EnvironmentBuildError):
            pass  # best effort: the bound is on the environments

    def clear(self) -> list[str]:
        """Remove every environment not in use by a process, and the download cache."""
        removed = [env.name for env in self._env_dirs() if self._remove_if_unused(env.name)]
        shutil.rmtree(self.uv_cache, ignore_errors=True)
        return removed

    def sizes(self) -> dict[str, int]:
        """Bytes of each complete environment (key -> size)."""
        found = {}
        for env in self._env_dirs():
            try:
                found[env.name] = int((env / ".jupyter-dsp-size").read_text())
            except (OSError, ValueError):
                continue
        return found

    def close(self) -> None:
        """Let other processes evict the environments this object handed out."""
        for fd in self._held.values():
            os.close(fd)
        self._held.clear()

    # ----- building -----

    def _build(self, env: Path, packages: list[str], index_urls: list[str], log: BinaryIO) -> None:
        shutil.rmtree(env, ignore_errors=True)  # a half-built one from a killed process
        started = time.monotonic()
        self._write(log, f"Creating an environment for {', '.join(packages)} (uv)\n")
        uv = uv_binary()
        self._uv(
            [uv, "venv", "--quiet", "--system-site-packages", "--python", sys.executable, str(env)],
            log,
            packages,
        )
        python = str(env / "bin" / "python")
        _layer_over_server(env)
        # pip's behaviour across several indexes (uv's default takes the first that has it)
        install = [uv, "pip", "install", "--python", python]
        install += ["--index-strategy", "unsafe-best-match"]
        if index_urls:
            install += ["--index-url", index_urls[0]]
            for url in index_urls[1:]:
                install += ["--extra-index-url", url]
        constraints = env / ".jupyter-dsp-constraints.txt"
        pinned = server_constraints(exclude=requested_names(packages))
        constraints.write_text("\n".join(pinned) + "\n")
        try:
            self._uv(install + ["--constraint", str(constraints), *packages], log, packages)
        except EnvironmentBuildError:
            self._write(
                log,
                "The packages need versions other than the server's; installing them without "
                "the server's versions as constraints\n",
            )
            self._uv(install + list(packages), log, packages)
        (env / ".jupyter-dsp-size").write_text(str(_tree_size(env)))
        (env / ".jupyter-dsp-packages.json").write_text(
            json.dumps({"packages": packages, "index_urls": index_urls})
        )
        (env / READY).touch()
        self._write(log, f"Environment ready in {time.monotonic() - started:.1f}s\n")

    def _uv(self, argv: list[str], log: BinaryIO, packages: list[str]) -> None:
        """Run uv, streaming its output to ``log``; raise with its last lines on failure."""
        env = dict(os.environ)
        env.update(
            {
                "UV_CACHE_DIR": str(self.uv_cache),
                "UV_NO_PROGRESS": "1",
                "NO_COLOR": "1",
                "VIRTUAL_ENV": "",
                "UV_PYTHON_DOWNLOADS": "never",
            }
        )
        tail: deque[str] = deque(maxlen=20)
        try:
            proc = subprocess.Popen(
                argv,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
            )
        except OSError as exc:
            raise EnvironmentBuildError(
                f"could not install {', '.join(packages)}: cannot start uv ({exc})"
            ) from exc
        assert proc.stdout is not None
        deadline = time.monotonic() + INSTALL_TIMEOUT
        for raw in proc.stdout:
            self._write(log, raw)
            text = raw.decode("utf-8", "replace").rstrip()
            if text.strip() and not text.startswith("Using Python"):
                tail.append(text)
            if time.monotonic() > deadline:
                proc.kill()
                tail.append(f"the install took longer than {INSTALL_TIMEOUT}s")
                break
        code = proc.wait()
        if code != 0:
            reason = " ".join(line.strip() for line in tail) or f"uv exited with status {code}"
            raise EnvironmentBuildError(f"could not install {', '.join(packages)}: {reason}")

    # ----- locks and bookkeeping -----

    def _prepare_dirs(self) -> None:
        for path in (self.root, self.envs, self.locks, self.uv_cache):
            path.mkdir(parents=True, exist_ok=True)

    def _lock(self, key: str, kind: str, mode: int) -> int:
        fd = os.open(self.locks / f"{key}.{kind}", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, mode)
        except OSError:
            os.close(fd)
            raise
        return fd

    def _hold_use(self, key: str) -> None:
        if key not in self._held:
            self._held[key] = self._lock(key, "use", fcntl.LOCK_SH)

    def _remove_if_unused(self, key: str) -> bool:
        try:
            use_fd = self._lock(key, "use", fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False  # a process is using it
        try:
            build_fd = self._lock(key, "build", fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(use_fd)
            return False  # being built
        try:
            env = self.envs / key
            try:
                (env / READY).unlink()
            except FileNotFoundError:
                pass
            shutil.rmtree(env, ignore_errors=True)
            return True
        finally:
            os.close(build_fd)
            os.close(use_fd)

    def _env_dirs(self) -> list[Path]:
        if not self.envs.is_dir():
            return []
        return [p for p in self.envs.iterdir() if p.is_dir()]

    @staticmethod
    def _write(log: BinaryIO, data: bytes | str) -> None:
        try:
            log.write(data.encode() if isinstance(data, str) else data)
            log.flush()
        except (OSError, ValueError):
            pass  # a closed log never fails the build
