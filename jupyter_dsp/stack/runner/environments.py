"""Virtual environments for steps that install packages (``packages_to_install``).

One environment per distinct package set (requirements + index URLs + the server's Python +
the namespace of the run that needs it: one namespace's environment is never another's),
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
exceeds ``max_bytes``. Downloads are cached per namespace in ``ROOT/uv-cache/<scope>``
(copied into the venvs, never hard-linked: the cache changes hands between builds).

Builds run package build backends, i.e. code a step chose, so they run as the step
(:mod:`env_build`): as its user in its sandbox when the stack runs as root, with the scrubbed
environment and a private ``TMPDIR``; the environment and the namespace's download cache are
handed to the step's user for the build and taken back (root's, read-only) after it, before
the stack writes anything into them. ``locks/<scope>.cache`` serializes a namespace's builds.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from jupyter_dsp.stack.runner.cache import namespace_scope
from jupyter_dsp.stack.runner.env_build import (
    INSTALL_TIMEOUT,
    BuildRunner,
    builder_for,
    hand_over,
    layer_over_server,
    run_uv,
    take_back,
)
from jupyter_dsp.stack.runner.env_requirements import (
    EnvironmentBuildError,
    environment_key,
    requested_names,
    runtime_kfp_requirement,
    server_constraints,
    step_environ,
    step_install_request,
    uv_binary,
)
from jupyter_dsp.stack.runner.run_context import current_run

__all__ = [
    "INSTALL_TIMEOUT",
    "EnvironmentBuildError",
    "StepEnvironments",
    "environment_key",
    "runtime_kfp_requirement",
    "step_environ",
    "step_install_request",
]

GiB = 1024**3
DEFAULT_MAX_BYTES = 5 * GiB
READY = ".jupyter-dsp-ready"  # written last: the environment is complete


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
        self.root = Path(root).resolve()  # trusted; below it nothing is followed
        self.max_bytes = int(max_bytes)
        self.envs = self.root / "envs"
        self.locks = self.root / "locks"
        self.uv_cache = self.root / "uv-cache"
        self._held: dict[str, int] = {}  # key -> fd of its shared use lock
        self.builds = 0  # environments this object built (tests and the bench read it)

    # ----- public API -----

    def python_for(
        self,
        packages: list[str],
        index_urls: list[str],
        log: BinaryIO,
        namespace: str | None = None,
        builder: BuildRunner | None = None,
    ) -> str:
        """The Python executable to run a step needing ``packages`` with (built if needed).
        ``namespace``: whose environment it is (default: the current run's); ``builder``:
        how the build runs (default: as the current run's step, see env_build)."""
        packages = [p.strip() for p in packages if p and p.strip()]
        index_urls = [u.strip() for u in index_urls if u and u.strip()]
        if not packages:
            return sys.executable
        if namespace is None:
            run = current_run()
            namespace = run.namespace if run is not None else ""
        key = environment_key(packages, index_urls, namespace)
        self._prepare_dirs()
        self._hold_use(key)
        env = self.envs / key
        python = env / "bin" / "python"
        build_fd = self._lock(key, "build", fcntl.LOCK_EX)
        try:
            if self._is_ready(env):
                self._write(log, f"Reusing the environment for {', '.join(packages)}\n")
            else:
                scope = namespace_scope(namespace)
                cache_fd = self._lock(scope, "cache", fcntl.LOCK_EX)  # one build per namespace
                try:
                    runner = builder or builder_for(self.root)
                    self._build(env, key, scope, packages, index_urls, log, runner)
                except BaseException:
                    shutil.rmtree(env, ignore_errors=True)
                    raise
                finally:
                    os.close(cache_fd)
                self.builds += 1
            os.utime(env / READY, follow_symlinks=False)  # mtime = last use, for LRU
        finally:
            os.close(build_fd)
        self.evict(keep={key})
        return str(python)

    @classmethod
    def _ready_size(cls, env: Path) -> tuple[float, int] | None:
        """``(last use, bytes)`` of a complete environment, else None."""
        if not cls._is_ready(env):
            return None
        try:
            size = int((env / ".jupyter-dsp-size").read_text())
            return os.lstat(env / READY).st_mtime, size
        except (OSError, ValueError):
            return None

    @staticmethod
    def _is_ready(env: Path) -> bool:
        """Complete, and the stack's own again (a half-built one may be a build user's)."""
        try:
            own = os.lstat(env).st_uid == os.geteuid()
            return own and stat.S_ISREG(os.lstat(env / READY).st_mode)
        except OSError:
            return False

    def evict(self, keep: Iterable[str] = ()) -> list[str]:
        """Remove least recently used environments until they fit ``max_bytes``."""
        kept = set(keep)
        entries = []
        for env in self._env_dirs():
            found = self._ready_size(env)
            if found is not None:  # else being built, or broken: the next builder redoes it
                entries.append((found[0], env.name, found[1]))
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
        if not self.uv_cache.is_dir():
            return
        for cache in self.uv_cache.iterdir():
            try:
                subprocess.run(
                    [uv_binary(), "cache", "prune", "--quiet"],
                    env={**os.environ, "UV_CACHE_DIR": str(cache)},
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    timeout=120,
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
            ready = self._ready_size(env)
            if ready is not None:
                found[env.name] = ready[1]
        return found

    def close(self) -> None:
        """Let other processes evict the environments this object handed out."""
        for fd in self._held.values():
            os.close(fd)
        self._held.clear()

    # ----- building -----

    def _build(
        self,
        env: Path,
        key: str,
        scope: str,
        packages: list[str],
        index_urls: list[str],
        log: BinaryIO,
        runner: BuildRunner,
    ) -> None:
        shutil.rmtree(env, ignore_errors=True)  # a half-built one from a killed process
        started = time.monotonic()
        self._write(log, f"Creating an environment for {', '.join(packages)} (uv)\n")
        uv = uv_binary()
        cache = self.uv_cache / scope
        constraints = self.root / "constraints" / f"{key}.txt"  # the stack's: read-only
        constraints.parent.mkdir(mode=0o755, exist_ok=True)
        pinned = server_constraints(exclude=requested_names(packages))
        constraints.write_text("\n".join(pinned) + "\n")
        env.mkdir(mode=0o755)
        cache.mkdir(mode=0o755, exist_ok=True)
        uid = runner.uid
        if uid is not None:
            hand_over(env, uid)
            hand_over(cache, uid)
        try:
            venv = [uv, "venv", "--quiet", "--system-site-packages", "--python", sys.executable]
            run_uv(runner, [*venv, str(env)], log, packages, cache, env)
            python = str(env / "bin" / "python")
            layer_over_server(env)
            # pip's behaviour across several indexes (uv's default takes the first that has it)
            install = [uv, "pip", "install", "--python", python]
            install += ["--index-strategy", "unsafe-best-match"]
            # steps run with PYTHONDONTWRITEBYTECODE and a read-only environment: compiled
            # once here, or every step compiles every module it imports again
            install += ["--compile-bytecode"]
            if index_urls:
                install += ["--index-url", index_urls[0]]
                for url in index_urls[1:]:
                    install += ["--extra-index-url", url]
            try:
                argv = install + ["--constraint", str(constraints), *packages]
                run_uv(runner, argv, log, packages, cache, env)
            except EnvironmentBuildError:
                self._write(
                    log,
                    "The packages need versions other than the server's; installing them "
                    "without the server's versions as constraints\n",
                )
                run_uv(runner, install + list(packages), log, packages, cache, env)
        finally:
            if uid is not None:  # root's again, read-only, before the stack writes in it
                try:
                    take_back(cache, uid)
                except OSError:
                    shutil.rmtree(cache, ignore_errors=True)
                try:
                    take_back(env, uid)
                except OSError as exc:
                    raise EnvironmentBuildError(
                        f"could not install {', '.join(packages)}: {exc}"
                    ) from None
        (env / ".jupyter-dsp-size").write_text(str(_tree_size(env)))
        (env / ".jupyter-dsp-packages.json").write_text(
            json.dumps({"packages": packages, "index_urls": index_urls})
        )
        (env / READY).touch()
        self._write(log, f"Environment ready in {time.monotonic() - started:.1f}s\n")

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
