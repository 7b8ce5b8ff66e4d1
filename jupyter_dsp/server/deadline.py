"""One deadline for a whole ``dsp/`` request (``DSPSettings.total_timeout``).

The pool's timeouts bound each wait (connect, headers, a silent answer); a stack that trickles
its answer, a byte just before each idle timeout, would still hold a request for as long as it
likes. :func:`whole_request` wraps a handler method: when the request (counted from its
arrival, so reading the body is included) outlives the deadline, the work is cancelled and
the caller gets a 504 in KFP's shape, or, when the answer had already started, a cut
connection (its status cannot change any more).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from tornado import web

H = TypeVar("H", bound=web.RequestHandler)


def deadline_message(total: float) -> str:
    return f"the whole request took longer than {total:g}s (DSPSettings.total_timeout)"


def whole_request(
    method: Callable[..., Awaitable[None]],
) -> Callable[..., Awaitable[None]]:
    @functools.wraps(method)
    async def within(self: Any, *args: Any, **kwargs: Any) -> None:
        total = float(self.dsp.settings.total_timeout)
        left = max(0.5, total - self.request.request_time())
        try:
            await asyncio.wait_for(method(self, *args, **kwargs), timeout=left)
        except asyncio.TimeoutError:
            if self._finished:
                return
            if not self._headers_written:
                self.clear()
                self.send_kfp_error(504, deadline_message(total))
            else:
                self.log.warning("jupyter-dsp: answer cut: %s", deadline_message(total))
                self.request.connection.close()

    return within
