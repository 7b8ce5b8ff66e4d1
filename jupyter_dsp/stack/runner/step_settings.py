"""The stack's settings for running steps: environment cache bound, caching, containers,
and the directories local-path importers may read.

Set with ``jupyter-dsp stack serve --env-cache-size 5G --no-step-cache --python-in-containers
--import-root DIR`` or, for the stack the Jupyter server owns, with
``DSPSettings.step_env_cache_size``, ``step_caching``, ``python_in_containers`` and
``step_import_roots``. The engine reads them from ``StackConfig.steps``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_dsp.stack.runner.cache import cache_root

GiB = 1024**3
DEFAULT_ENV_CACHE_BYTES = 5 * GiB
ENVIRONMENTS_DIR = "environments"  # under the stack's data dir
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": GiB, "T": 1024**4}


def parse_size(text: str | int) -> int:
    """``'5G'``, ``'500M'``, ``'1.5GiB'`` or a byte count -> bytes (ValueError otherwise)."""
    if isinstance(text, int):
        if text < 0:
            raise ValueError("a size cannot be negative")
        return text
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*", str(text), re.IGNORECASE)
    if not match:
        raise ValueError(f"not a size: {text!r} (e.g. 5G, 500M, 1073741824)")
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])


def environments_root(data_dir: Path) -> Path:
    """Where a stack keeps the virtual environments of its steps."""
    return Path(data_dir) / ENVIRONMENTS_DIR


@dataclass(frozen=True)
class StepSettings:
    env_cache_bytes: int = DEFAULT_ENV_CACHE_BYTES  # bound of the per-step environments
    step_caching: bool = True  # steps may be served from the cache (as the task allows)
    python_in_containers: bool = False  # run Python components in a container engine too
    # where local-path and file:// importers may read; None: none on a multi-user stack,
    # the working directory on a single-user one (see run_context)
    import_roots: tuple[str, ...] | None = None
    bwrap: str = "bwrap"  # the bubblewrap program of the step sandbox (stack run as root)

    @classmethod
    def from_settings(cls, settings: Any) -> StepSettings:
        """From ``DSPSettings`` (``step_env_cache_size``, ``step_caching``,
        ``python_in_containers``); a bad size falls back to the default with a warning."""
        try:
            size = parse_size(getattr(settings, "step_env_cache_size", "") or "5G")
        except ValueError as exc:
            logging.getLogger("jupyter_dsp").warning("step_env_cache_size: %s; using 5G", exc)
            size = DEFAULT_ENV_CACHE_BYTES
        roots = getattr(settings, "step_import_roots", None)
        return cls(
            env_cache_bytes=size,
            step_caching=bool(getattr(settings, "step_caching", True)),
            python_in_containers=bool(getattr(settings, "python_in_containers", False)),
            import_roots=None if roots is None else tuple(str(r) for r in roots),
        )

    def cli_args(self) -> list[str]:
        """The ``jupyter-dsp stack serve`` options that give these settings."""
        args = ["--env-cache-size", str(self.env_cache_bytes)]
        if not self.step_caching:
            args.append("--no-step-cache")
        if self.python_in_containers:
            args.append("--python-in-containers")
        if self.import_roots is not None:
            args += [f"--import-root={root}" for root in self.import_roots] or ["--import-root="]
        if self.bwrap != "bwrap":
            args += ["--bwrap", self.bwrap]
        return args


def worker_settings(ctx: Any) -> dict[str, Any]:
    """What a stack's run workers read from ``job.json``: the step settings, and what the
    work done for a step is scoped by (multi-user, import roots; see run_context)."""
    from jupyter_dsp.stack.runner.run_context import default_import_roots

    steps = getattr(ctx.config, "steps", None)
    settings: dict[str, Any] = {"data_dir": str(ctx.data_dir)}
    for name in ("step_caching", "python_in_containers", "env_cache_bytes", "bwrap"):
        if hasattr(steps, name):
            settings[name] = getattr(steps, name)
    multi_user = bool(ctx.config.multi_user)
    settings["multi_user"] = multi_user
    roots = getattr(steps, "import_roots", None)
    settings["import_roots"] = default_import_roots(roots, multi_user)
    return settings


def clear_stack_caches(data_dir: Path, environments: bool = False) -> tuple[int, int]:
    """Clear a stack's step cache (and its environments if asked): ``(steps, envs)``."""
    from jupyter_dsp.stack.runner.cache import StepCache
    from jupyter_dsp.stack.runner.environments import StepEnvironments

    steps = StepCache(cache_root(data_dir)).clear()
    envs = len(StepEnvironments(environments_root(data_dir)).clear()) if environments else 0
    return steps, envs
