"""Persisting the run engine's snapshots: one writer thread, the latest per run wins."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from jupyter_dsp.stack.runner.model import RunSnapshot

log = logging.getLogger("jupyter_dsp.stack")


class SnapshotWriter:
    """Persists the latest snapshot of each changed run on its own thread."""

    def __init__(self, save: Callable[[list[RunSnapshot]], None]) -> None:
        self._save = save
        self._pending: dict[str, RunSnapshot] = {}
        self._busy = False
        self._stopped = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._loop, name="dsp-run-writer", daemon=True)
        self._thread.start()

    def put(self, snap: RunSnapshot) -> None:
        copy = RunSnapshot.from_dict(snap.to_dict())
        with self._cond:
            self._pending[snap.run_id] = copy
            self._cond.notify_all()

    def flush(self, timeout: float = 10) -> None:
        with self._cond:
            self._cond.wait_for(lambda: not self._pending and not self._busy, timeout=timeout)

    def stop(self) -> None:
        self.flush()
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending or self._stopped)
                if self._stopped and not self._pending:
                    return
                batch, self._pending = list(self._pending.values()), {}
                self._busy = True
            try:
                self._save(batch)
            except Exception:  # logged; the run's next change writes it again
                log.exception("saving run states failed")
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
