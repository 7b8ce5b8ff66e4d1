"""The thread that fires recurring runs: it sleeps until the earliest due time.

It keeps one heap of (due time, id) for every enabled recurring run, so a thousand schedules
cost nothing while none is due: the thread waits on a condition until the head of the heap
is due or a change (create, enable, disable, delete) wakes it. What is due is decided again
from the database by ``fire(id)`` (which returns the next time to look), so a stale heap entry
only costs a look. It wakes at least once a minute (wall-clock steps), nothing more.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("jupyter_dsp.stack")
# due times are wall-clock; waits are monotonic: look again at least this often so that a
# clock step (NTP, suspend) delays a firing by a minute at most
MAX_SLEEP = 60.0


class Scheduler:
    def __init__(
        self,
        fire: Callable[[str], int | None],
        load: Callable[[], list[tuple[str, int | None]]],
    ) -> None:
        self._fire = fire
        self._load = load
        self._heap: list[tuple[int, str]] = []
        self._due: dict[str, int] = {}  # id -> the due time that counts
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="dsp-recurring", daemon=True)
        self._thread.start()

    def schedule(self, recurring_run_id: str, due: int | None) -> None:
        """Look at ``recurring_run_id`` at ``due`` (None: not any more)."""
        with self._cond:
            if due is None:
                self._due.pop(recurring_run_id, None)
            else:
                self._due[recurring_run_id] = due
                heapq.heappush(self._heap, (due, recurring_run_id))
            self._cond.notify_all()

    def due_of(self, recurring_run_id: str) -> int | None:
        """When the thread will look at it next (None: not scheduled, or firing now)."""
        with self._cond:
            return self._due.get(recurring_run_id)

    def pending(self) -> dict[str, int]:
        with self._cond:
            return dict(self._due)

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._thread.join(timeout=10)

    def _next(self) -> str | None:
        """Wait for the next due id (None when stopped)."""
        with self._cond:
            while not self._stopped:
                while self._heap and self._due.get(self._heap[0][1]) != self._heap[0][0]:
                    heapq.heappop(self._heap)  # stale: rescheduled or removed
                if not self._heap:
                    self._cond.wait()
                    continue
                due, rid = self._heap[0]
                delay = due - time.time()
                if delay <= 0:
                    heapq.heappop(self._heap)
                    del self._due[rid]
                    return rid
                self._cond.wait(timeout=min(delay, MAX_SLEEP))
            return None

    def _run(self) -> None:
        try:
            for rid, due in self._load():
                self.schedule(rid, due)
        except Exception:
            log.exception("loading recurring runs failed")
        while True:
            next_id = self._next()
            if next_id is None:
                return
            rid = next_id
            try:
                due = self._fire(rid)
            except Exception:
                log.exception("recurring run %s: firing failed", rid)
                due = int(time.time()) + 5
            with self._cond:
                if rid in self._due:  # changed while firing: that schedule wins
                    continue
            self.schedule(rid, due)
