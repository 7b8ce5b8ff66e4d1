"""Readable, distinct default names for runs and schedules (KFP recurring runs).

Used by the kernel client (runs and schedules it starts without a name) and by the embedded
stack (the runs a schedule starts), so every list shows names a person can tell apart and say
aloud: ``joke-pipeline otter-3f`` rather than a timestamp to the second, a schedule
``joke-pipeline · daily 06:00``, its runs ``joke-pipeline · daily 06:00 · 2026-12-03 06:00``.
"""

from __future__ import annotations

import datetime as dt
import secrets

# short, distinct, neutral words (no two share a prefix of three letters)
WORDS = (
    "acorn amber anvil aspen badger basil birch bison cedar cobalt comet coral crane cricket "
    "delta dune eagle ember falcon fern fjord flint gecko ginger glacier harbor hazel heron "
    "indigo iris jade juniper kelp kestrel lark lemon lotus lynx maple marble meadow mint "
    "nectar nova oak olive onyx orchid otter pebble pepper pine plum quartz quill raven reef "
    "robin saffron sage sparrow spruce tango thistle tulip umber velvet violet walnut willow "
    "wren yarrow zephyr zinc"
).split()

WEEKDAYS = {
    "0": "Sunday", "1": "Monday", "2": "Tuesday", "3": "Wednesday", "4": "Thursday",
    "5": "Friday", "6": "Saturday", "7": "Sunday",
    "SUN": "Sunday", "MON": "Monday", "TUE": "Tuesday", "WED": "Wednesday",
    "THU": "Thursday", "FRI": "Friday", "SAT": "Saturday",
}  # fmt: skip


def readable_suffix() -> str:
    """A short random suffix a person can read and say: ``otter-3f`` (about 20,000 kinds)."""
    return f"{secrets.choice(WORDS)}-{secrets.token_hex(1)}"


def run_name(title: str) -> str:
    """The default name of a run of ``title`` (a pipeline name): ``title otter-3f``."""
    return f"{title} {readable_suffix()}"


def cron_as_typed(cron: str) -> str:
    """KFP's 6-field cron (seconds first) as the 5-field form people type when the seconds
    field is ``0`` (``0 0 6 * * *`` -> ``0 6 * * *``); any other expression unchanged."""
    fields = cron.split()
    if len(fields) == 6 and fields[0] == "0":
        return " ".join(fields[1:])
    return " ".join(fields)


def _clock(minute: str, hour: str) -> str | None:
    if minute.isdigit() and hour.isdigit() and int(hour) < 24 and int(minute) < 60:
        return f"{int(hour):02d}:{int(minute):02d}"
    return None


def every_words(interval_second: int) -> str:
    """``3600`` -> ``every 1h``, ``5400`` -> ``every 1h30m``, ``86400`` -> ``every 1d``."""
    days, rest = divmod(int(interval_second), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    units = ((days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s"))
    return "every " + ("".join(f"{v}{u}" for v, u in units if v) or "0s")


def trigger_words(cron: str = "", interval_second: int = 0) -> str:
    """A trigger in a few words: ``daily 06:00``, ``Mondays 06:00``, ``hourly at :15``,
    ``every 1h``, else the cron as typed (``cron 0 6 1 * *``). Times are UTC."""
    if not cron:
        return every_words(interval_second)
    fields = cron_as_typed(cron).split()
    if len(fields) == 5:
        minute, hour, day, month, weekday = fields
        clock = _clock(minute, hour)
        if day == month == "*":
            if clock and weekday == "*":
                return f"daily {clock}"
            if clock and weekday.upper() in WEEKDAYS:
                return f"{WEEKDAYS[weekday.upper()]}s {clock}"
            if clock and weekday in ("1-5", "MON-FRI"):
                return f"weekdays {clock}"
            if minute.isdigit() and hour == "*" and weekday == "*":
                return "hourly" if minute == "0" else f"hourly at :{int(minute):02d}"
    return f"cron {' '.join(fields)}"


def schedule_name(title: str, cron: str = "", interval_second: int = 0) -> str:
    """The default name of a schedule: ``joke-pipeline · daily 06:00``."""
    return f"{title} · {trigger_words(cron, interval_second)}"


def scheduled_run_name(schedule: str, when: float, limit: int = 128) -> str:
    """The name of the run a schedule starts for its firing time ``when`` (epoch seconds, UTC):
    ``joke-pipeline · daily 06:00 · 2026-12-03 06:00`` (seconds only when not 0); the
    schedule's name is shortened with an ellipsis so the whole stays within ``limit``."""
    moment = dt.datetime.fromtimestamp(when, dt.timezone.utc)
    stamp = " · " + f"{moment:%Y-%m-%d %H:%M}" + (f":{moment:%S}" if moment.second else "")
    room = limit - len(stamp)
    if len(schedule) > room:
        schedule = schedule[: room - 1].rstrip() + "…"
    return schedule + stamp


def scheduled_time(run_name: str) -> dt.datetime | None:
    """The firing time in a name made by :func:`scheduled_run_name` (None if it has none)."""
    stamp = run_name.rsplit(" · ", 1)[-1]
    for layout in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"):
        try:
            return dt.datetime.strptime(stamp, layout).replace(tzinfo=dt.timezone.utc)
        except ValueError:
            continue
    return None
