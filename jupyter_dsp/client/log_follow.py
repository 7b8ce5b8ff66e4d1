"""Following a task's log: a stack whose offsets do not move is an error, not a loop.

A reader asks for the log from an offset and goes on from the ``X-Log-Next-Offset`` the stack
answers until it says the log is complete. A stack (or a gateway in front of it) that answers
no number, or the same offset again, without ever saying "complete", would keep a reader
asking forever; after :data:`MAX_STALLS` such reads in a row the reader stops with a
:class:`LogStalled` error that says what the stack did.
"""

from __future__ import annotations

from jupyter_dsp.client.errors import DSPError
from jupyter_dsp.client.run_models import LogChunk

MAX_STALLS = 3


class LogStalled(DSPError):
    """The stack's log offsets did not advance (a one-line error, never a traceback)."""


class LogStall:
    def __init__(self, run_id: str, task_id: str, limit: int = MAX_STALLS) -> None:
        self.run_id, self.task_id, self.limit = run_id, task_id, limit
        self.count = 0

    def check(self, chunk: LogChunk, offset: int) -> None:
        """Count a read from ``offset`` that did not advance; raise after ``limit`` in a row."""
        if chunk.complete or (chunk.offset_given and chunk.next_offset > offset):
            self.count = 0
            return
        if chunk.offset_given and not chunk.text:
            return  # nothing new yet, and the stack says so: the reader stops on its own
        self.count += 1
        if self.count >= self.limit:
            said = "no next offset" if not chunk.offset_given else f"offset {chunk.next_offset}"
            raise LogStalled(
                f"The log of task {self.task_id} (run {self.run_id}) is not advancing: "
                f"{self.count} reads in a row from offset {offset} got {said} and the log "
                "never said it is complete; stopped reading.",
                status=502,
                hint="The pipeline stack (or a gateway before it) does not follow log offsets; "
                "check it, or read a part with `%dsp logs RUN TASK --start N --bytes M`.",
            )
