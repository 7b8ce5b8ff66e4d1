"""Task logs of the project's runs: bounded reads through the stack's logs endpoint (or, on a
cluster's KFP API server, its archived log endpoint), a window of a task's log, and a run's
logs task by task.

Built on :class:`~jupyter_dsp.client.runs.RunOperations`, which reads the runs.
"""

from __future__ import annotations

import datetime as dt

from jupyter_dsp.client.errors import ArgumentError, DSPError, NotFoundError, scrub
from jupyter_dsp.client.log_follow import LogStall
from jupyter_dsp.client.run_models import LogChunk, Logs, LogWindow, Run
from jupyter_dsp.client.runs import RunOperations, run_id_of

WINDOW = 1024 * 1024  # bytes of an archived log per read, as the stack's logs extension


class LogOperations(RunOperations):
    """Log reads over the project space of a :class:`DSPClient`."""

    def log_chunk(self, run_id: str, task_id: str, offset: int = 0) -> LogChunk:
        """One read of a task's log from ``offset``: the stack's logs extension, or on a
        cluster's KFP API server (which has none) its archived log endpoint."""
        try:
            response = self.project_get(
                f"Reading the log of task {task_id}",
                "/apis/v2beta1/runs/{run_id}/tasks/{task_id}/logs",
                path_params={"run_id": run_id, "task_id": task_id},
                query=[("offset", int(offset))],
                headers={"Accept": "text/plain"},
            )
        except NotFoundError as exc:
            if getattr(self, "mode", "") == "embedded":
                raise
            return self._archived_chunk(run_id, task_id, offset, exc)
        body = scrub(response.data.decode("utf-8", "replace"))
        headers = response.headers
        raw_next = str(headers.get("X-Log-Next-Offset") or "")
        given = raw_next.isdigit()
        next_offset = int(raw_next) if given else offset + len(response.data)
        complete = str(headers.get("X-Log-Complete", "false")).lower() == "true"
        raw_size = str(headers.get("X-Log-Size") or "")
        size = int(raw_size) if raw_size.isdigit() else None
        return LogChunk(body, next_offset, complete, size, offset_given=given)

    def _archived_chunk(self, run_id: str, task_id: str, offset: int, first: DSPError) -> LogChunk:
        """KFP's ``GET /apis/v1alpha1/runs/{run}/nodes/{node}/log`` (the pod's log while the pod
        exists, the archived one after; node = the task's pod), windowed to ``offset``."""
        run = self.get_run(run_id)
        task = next((t for t in run.tasks if t.id == task_id), None)
        if task is None:
            raise first
        raw = task.raw
        pod = getattr(raw, "pod_name", None) or next(
            (c.pod_name for c in (getattr(raw, "child_tasks", None) or []) if c.pod_name), None
        )
        node = pod or task_id
        try:
            response = self.project_get(
                f"Reading the archived log of task {task_id}",
                "/apis/v1alpha1/runs/{run_id}/nodes/{node_id}/log",
                path_params={"run_id": run_id, "node_id": node},
                headers={"Accept": "text/plain"},
            )
        except DSPError as exc:
            raise DSPError(
                f"No log for task {task.name}: {first.message} And the API server's archived "
                f"log: {exc.message} (KFP keeps step logs after their pods only with log "
                "archiving on).",
                status=404,
            ) from None
        kept, seen = bytearray(), 0
        for piece in response.stream(64 * 1024):  # memory bounded by the window
            lo, seen = seen, seen + len(piece)
            if seen > offset and lo < offset + WINDOW:
                kept += piece[max(0, offset - lo) : offset + WINDOW - lo]
        end = offset + len(kept)
        text = scrub(bytes(kept).decode("utf-8", "replace"))
        return LogChunk(text, max(offset, end), end >= seen, seen)

    def read_log(
        self, run_id: str, task_id: str, *, start: int | None = None, max_bytes: int | None = None
    ) -> LogWindow:
        """At most ``max_bytes`` of a task's log (default ``log_tail_bytes``): from byte
        ``start``, or the tail when ``start`` is None. Memory stays bounded whatever the
        log's size; a stack that does not say the size is read through, keeping the tail."""
        limit = int(max_bytes or self.log_tail_bytes)
        if limit <= 0:
            raise ArgumentError("the number of log bytes must be positive")
        offset = int(start or 0)
        first = self.log_chunk(run_id, task_id, offset)
        if start is None and first.size is not None and first.size - offset > limit:
            offset = first.size - limit
            first = self.log_chunk(run_id, task_id, offset)
        window_start, parts, kept = offset, [first.text], len(first.text.encode())
        chunk, size = first, first.size
        stalled = LogStall(run_id, task_id)
        stalled.check(first, offset)
        while chunk.text and chunk.next_offset > offset and not chunk.complete:
            if start is not None and kept >= limit:
                break
            offset = chunk.next_offset
            chunk = self.log_chunk(run_id, task_id, offset)
            stalled.check(chunk, offset)
            size = chunk.size if chunk.size is not None else size
            parts.append(chunk.text)
            kept += len(chunk.text.encode())
            while start is None and kept - len(parts[0].encode()) >= limit and len(parts) > 1:
                dropped = parts.pop(0)  # an old stack: keep only the tail in memory
                kept -= len(dropped.encode())
                window_start += len(dropped.encode())
        text = "".join(parts)
        raw = text.encode()
        if len(raw) > limit:
            if start is None:
                window_start += len(raw) - limit
                raw = raw[-limit:]
            else:
                raw = raw[:limit]
            text = raw.decode("utf-8", "replace")
        end = window_start + len(raw)
        return LogWindow(text, window_start, end, max(size or 0, end), chunk.complete)

    def task_log(self, run_id: str, task_id: str) -> str:
        """The tail of a task's log (``log_tail_bytes`` at most)."""
        return self.read_log(run_id, task_id).text

    def logs(
        self,
        run_id: str | Run,
        task: str | None = None,
        *,
        tail: int | None = None,
        start: int | None = None,
    ) -> Logs:
        """The log of one task (by name or id) or of every task of the run: each task's last
        ``tail`` bytes (default ``log_tail_bytes``, about 1 MB), or ``tail`` bytes from byte
        ``start`` to read an earlier part."""
        run = (
            run_id if isinstance(run_id, Run) and run_id.tasks else self.get_run(run_id_of(run_id))
        )
        if task is not None:
            found = run.task(task)
            if found is None:
                names = ", ".join(t.name for t in run.tasks) or "none yet"
                raise NotFoundError(
                    f"Run {run.id} has no task {task!r} (tasks: {names}).", status=404
                )
            window = self.read_log(run.id, found.id, start=start, max_bytes=tail)
            text = _earlier_note(run.id, found.name, window) + window.text
            if not text and found.state == "CACHED":
                text = (
                    f"({found.name} was cached: an earlier run with the same inputs made its "
                    f"outputs, so it did not run again and has no log here; `%dsp outputs "
                    f"{run.id} {found.name}` shows them)"
                )
            return Logs(run.id, text, [found.name], {found.name: window.start})
        ordered = sorted(
            run.tasks,
            key=lambda t: t.started_at or dt.datetime.max.replace(tzinfo=dt.timezone.utc),
        )
        sections, skipped = [], {}
        for t in ordered:
            window = self.read_log(run.id, t.id, start=start, max_bytes=tail)
            skipped[t.name] = window.start
            note = _earlier_note(run.id, t.name, window)
            sections.append(f"==> {t.name} [{t.state}] <==\n{note}{window.text.rstrip()}\n")
        return Logs(run.id, "\n".join(sections), [t.name for t in ordered], skipped)


def _earlier_note(run_id: str, task: str, window: LogWindow) -> str:
    """A first line saying what was left out, and how to read it."""
    if window.start <= 0:
        return ""
    before = max(0, window.start - (window.end - window.start))
    return (
        f"[... {window.start:,} earlier bytes of {window.size:,} not shown; read them with "
        f"`%dsp logs {run_id} {task} --start {before} --bytes {window.end - window.start}` "
        f"...]\n"
    )
