"""The thread that fires recurring runs: it sleeps until the earliest due time.

It keeps one heap of (due time, id) for every enabled recurring run, so a thousand schedules
cost nothing while none is due: the thread waits on a condition until the head of the heap
is due or a change (create, enable, disable, delete) wakes it, and hands due ids to a small
pool of threads. What is due is decided again
from the database by ``fire(id)`` (which returns the next time to look), so a stale heap entry
only costs a look. It wakes at least once a minute (wall-clock steps), nothing more.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger("jupyter_dsp.stack")
# due times are wall-clock; waits are monotonic: look again at least this often so that a
# clock step (NTP, suspend) delays a firing by a minute at most
MAX_SLEEP = 60.0
FIRE_THREADS = 4  # a burst of due schedules is made this many at a time


class Scheduler:
    """Due ids are fired on a few threads (``fire_threads``): a burst of schedules due in the
    same second is made in parallel, while one schedule never fires twice at once."""

    def __init__(
        self,
        fire: Callable[[str], int | None],
        load: Callable[[], list[tuple[str, int | None]]],
        fire_threads: int = FIRE_THREADS,
    ) -> None:
        self._fire = fire
        self._load = load
        self._heap: list[tuple[int, str]] = []
        self._due: dict[str, int] = {}  # id -> the due time that counts
        self._firing: set[str] = set()  # ids a pool thread is firing now
        self._again: set[str] = set()  # came due again while firing: fire once more after
        self._cond = threading.Condition()
        self._stopped = False
        self._pool = ThreadPoolExecutor(fire_threads, thread_name_prefix="dsp-recurring-fire")
        self._thread = threading.Thread(target=self._run, name="dsp-recurring", daemon=True)
        self._thread.start()

    def schedule(self, recurring_run_id: str, due: int | None) -> None:
        """Look at ``recurring_run_id`` at ``due`` (None: not any more)."""
        with self._cond:
            if due is None:
                self._due.pop(recurring_run_id, None)
                self._again.discard(recurring_run_id)
            else:
                self._due[recurring_run_id] = due
                heapq.heappush(self._heap, (due, recurring_run_id))
            self._cond.notify_all()

    def due_of(self, recurring_run_id: str) -> int | None:
        """When it will be looked at next (None: not scheduled, or firing now)."""
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
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _next(self) -> str | None:
        """Wait for the next due id that is not firing already (None when stopped)."""
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
                    if rid in self._firing:
                        self._again.add(rid)
                        continue
                    self._firing.add(rid)
                    return rid
                self._cond.wait(timeout=min(delay, MAX_SLEEP))
            return None

    def _run(self) -> None:
        try:
            for loaded, due in self._load():
                self.schedule(loaded, due)
        except Exception:
            log.exception("loading recurring runs failed")
        while True:
            rid = self._next()
            if rid is None:
                return
            try:
                self._pool.submit(self._fire_one, rid)
            except RuntimeError:  # the pool is shutting down
                return

    def _fire_one(self, rid: str) -> None:
        while True:
            try:
                due = self._fire(rid)
            except Exception:
                log.exception("recurring run %s: firing failed", rid)
                due = int(time.time()) + 5
            with self._cond:
                if rid in self._again and not self._stopped:
                    self._again.discard(rid)
                    continue  # came due again meanwhile: look again now
                self._firing.discard(rid)
                if rid in self._due:  # changed while firing: that schedule wins
                    return
            self.schedule(rid, due)
            return
