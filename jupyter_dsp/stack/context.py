"""Everything a running stack shares: configuration, database, services, worker threads.

Handlers reach it as ``self.ctx``. Blocking work (SQLite, parsing uploads) goes through
:meth:`StackContext.call`, which runs it on a worker thread so the event loop stays free.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from jupyter_dsp.stack.auth import Access, Principal, TokenStore
from jupyter_dsp.stack.db import Database
from jupyter_dsp.stack.experiment_service import ExperimentService
from jupyter_dsp.stack.experiments_store import ExperimentStore
from jupyter_dsp.stack.pipeline_service import PipelineService
from jupyter_dsp.stack.pipelines_store import PipelineStore
from jupyter_dsp.stack.runner.step_settings import StepSettings

T = TypeVar("T")

DB_FILE = "stack.db"
TOKEN_FILE = "token"
STATE_FILE = "stack.json"


@dataclass(frozen=True)
class StackConfig:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 0
    single_user: bool = False
    default_namespace: str = "default"
    workers: int | None = None
    steps: StepSettings = StepSettings()  # environments, caching, containers (runner/)

    @property
    def multi_user(self) -> bool:
        return not self.single_user


def prepare_data_dir(data_dir: Path) -> Path:
    """Create the data dir if needed; returns its absolute path.

    The data dir is 0700 and the files directly in it (database, token, logs, state) 0600,
    also those an earlier version left more open; nothing in it is anyone else's.
    """
    data_dir = Path(data_dir).expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)
    for entry in os.scandir(data_dir):
        if (
            entry.is_file(follow_symlinks=False)
            and entry.stat(follow_symlinks=False).st_mode & 0o077
        ):
            os.chmod(entry.path, 0o600)
    db = data_dir / DB_FILE
    if not db.exists():  # SQLite gives its -wal and -shm files the database's mode
        os.close(os.open(db, os.O_WRONLY | os.O_CREAT, 0o600))
    return data_dir


def ensure_default_token(tokens: TokenStore, data_dir: Path, default_namespace: str) -> str:
    """The data dir's default token (edit on the default namespace and on shared).

    Created with the data dir and kept in ``D/token`` (mode 0600). If that file was lost or
    its token revoked, a new default token replaces it.
    """
    path = data_dir / TOKEN_FILE
    if path.exists():
        token = path.read_text().strip()
        who = tokens.authenticate(token) if token else None
        if who is not None:
            if not who.can_write(default_namespace):  # started with another default namespace
                tokens.grant(who.token_id, default_namespace, "edit")
            return token
    token, _ = tokens.create("default", {default_namespace: "edit"}, shared="edit", is_default=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return token


class StackContext:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.data_dir = prepare_data_dir(config.data_dir)
        self.db = Database(self.data_dir / DB_FILE)
        self.tokens = TokenStore(self.db.conn)
        self.access = Access(config.multi_user, config.default_namespace)
        self.pipeline_store = PipelineStore(self.db.conn)
        self.pipelines = PipelineService(self.pipeline_store, self.access)
        self.experiment_store = ExperimentStore(self.db.conn)
        self.experiments = ExperimentService(self.experiment_store, self.access)
        self.default_token = ensure_default_token(
            self.tokens, self.data_dir, config.default_namespace
        )
        self.executor = ThreadPoolExecutor(
            max_workers=config.workers or 4, thread_name_prefix="dsp-stack"
        )
        self.heavy_executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="dsp-parse")
        # Place for other parts (runs) to hang their services: name -> object.
        self.extras: dict[str, Any] = {}

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run short blocking work (SQLite) on a worker thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args, **kwargs))

    async def call_heavy(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run long work (parsing an upload, downloading a package) on its own threads, so
        that a few big uploads never hold up the database work of other requests."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self.heavy_executor, functools.partial(fn, *args, **kwargs)
        )

    def authenticate(self, token: str) -> Principal | None:
        return self.tokens.authenticate(token)

    def close(self) -> None:
        for extra in self.extras.values():  # e.g. the runs service: stops its workers
            closer = getattr(extra, "close", None)
            if callable(closer):
                closer()
        self.heavy_executor.shutdown(wait=True, cancel_futures=True)
        self.executor.shutdown(wait=True, cancel_futures=True)
        self.db.close()
