"""When a recurring run fires: KFP's trigger rules, as its scheduledworkflow controller has them.

- A cron trigger has 6 fields, seconds first, in UTC (KFP parses it with robfig/cron v1:
  ``"0 0 6 * * *"`` is 06:00:00 every day). The descriptors ``@yearly @monthly @weekly
  @daily @midnight @hourly`` are accepted. croniter does the cron arithmetic.
- Deliberate deviation: 5 fields are read as a standard Unix cron (minute first, second 0:
  ``"0 6 * * *"`` is 06:00 daily) and stored and answered in the 6-field form. KFP's parser
  would read them as second, minute, hour, day, month (``"0 6 * * *"`` = 6 minutes past every
  hour), which no one means; clients talking to a real KFP must send 6 fields
  (``jupyter_dsp.client.lifecycle.kfp_cron`` converts).
- A periodic trigger fires every ``interval_second`` seconds, the first one an interval after
  the start (the start time, else the creation or re-enable time).
- Nothing fires before ``start_time`` or after ``end_time``.
- Catch-up (the default, ``no_catchup`` false): after downtime each missed trigger fires, one
  after the other. With ``no_catchup`` only the latest missed one fires (a periodic schedule
  fires once, now).
"""

from __future__ import annotations

from dataclasses import dataclass

from croniter import croniter  # type: ignore[import-untyped]

DESCRIPTORS = {
    "@yearly": "0 0 0 1 1 *",
    "@annually": "0 0 0 1 1 *",
    "@monthly": "0 0 0 1 * *",
    "@weekly": "0 0 0 * * 0",
    "@daily": "0 0 0 * * *",
    "@midnight": "0 0 0 * * *",
    "@hourly": "0 0 * * * *",
}


class TriggerError(ValueError):
    """A cron expression or trigger that cannot be used (the message says why)."""


def normalize_cron(expr: str) -> str:
    """The 6-field form of a KFP cron expression, or :class:`TriggerError`."""
    text = " ".join(expr.split())
    if not text:
        raise TriggerError("The cron expression is empty")
    if text.startswith("@"):
        if text.lower() in DESCRIPTORS:
            return DESCRIPTORS[text.lower()]
        if text.lower().startswith("@every"):
            raise TriggerError(
                f"{text!r}: use a periodic_schedule with interval_second for fixed intervals"
            )
        raise TriggerError(f"Unknown cron descriptor {text!r}")
    fields = text.split(" ")
    if len(fields) == 5:  # a Unix cron: minute first (see the module docstring)
        fields.insert(0, "0")
    if len(fields) != 6:
        raise TriggerError(
            f"Cron expression {text!r} has {len(fields)} fields; KFP's has 6:"
            " second minute hour day-of-month month day-of-week (e.g. '0 0 6 * * *')"
        )
    six = " ".join(fields)
    if not croniter.is_valid(six, second_at_beginning=True):
        raise TriggerError(f"Invalid cron expression {text!r}")
    try:
        croniter(six, 0, second_at_beginning=True).get_next(float)
    except Exception as exc:  # e.g. a date that never comes (30 February)
        raise TriggerError(f"Cron expression {text!r} never fires: {exc}") from None
    return six


def five_to_six(expr: str) -> str:
    """A standard 5-field Unix cron (minute first) as KFP's 6 fields (second 0 added)."""
    fields = expr.split()
    if len(fields) == 5:
        return "0 " + " ".join(fields)
    return " ".join(fields)


@dataclass(frozen=True)
class Trigger:
    cron: str = ""  # 6 fields (normalized)
    interval_second: int = 0
    start_time: int = 0  # 0 = none
    end_time: int = 0  # 0 = none

    def _after(self, t: int) -> int:
        if self.cron:
            return int(croniter(self.cron, t, second_at_beginning=True).get_next(float))
        return t + max(1, self.interval_second)

    def _past_end(self, t: int) -> bool:
        return bool(self.end_time) and t > self.end_time

    def next_due(
        self, last_fired: int | None, base_time: int, now: int, catchup: bool = True
    ) -> int | None:
        """The trigger time of the next run to make (maybe already past), None when over."""
        last = last_fired if last_fired is not None else (self.start_time or base_time)
        start = max(last, self.start_time)
        result = self._after(start)
        if self._past_end(result):
            return None
        if catchup or result > now:
            return result
        if not self.cron:  # periodic, behind by more than an interval: once, now
            return now if now >= result + max(1, self.interval_second) else result
        horizon = min(now, self.end_time) if self.end_time else now
        latest = int(croniter(self.cron, horizon + 1, second_at_beginning=True).get_prev(float))
        return max(result, latest)
