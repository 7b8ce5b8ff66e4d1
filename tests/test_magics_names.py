"""Names a person can tell apart: runs (pipeline name + a short readable suffix, never the
second they started), schedules (pipeline and trigger) and the runs a schedule starts in the
embedded stack, in a real IPython shell against the session's embedded stack."""

from __future__ import annotations

import re
import time

import pytest
from kernel_helpers import pipeline_source
from kernel_shell import run_cell
from test_magics_lifecycle import formats, runs_of_schedule

from jupyter_dsp.stack.naming import scheduled_run_name, trigger_words

pytestmark = pytest.mark.timeout(300)
SUFFIX = r"[a-z]+-[0-9a-f]{2}"


def test_runs_started_in_the_same_second_have_distinct_short_names(shell, unique_name):
    name = unique_name("names")
    run_cell(shell, pipeline_source(name))
    shell.run_line_magic("dsp", "upload pipeline")
    runs = [shell.run_line_magic("dsp", f"run {name} -p a={i}") for i in range(4)]
    names = [r.name for r in runs]
    assert len(set(names)) == 4, names  # were identical timestamps to the second
    for run_name in names:
        assert re.fullmatch(re.escape(name) + " " + SUFFIX, run_name), run_name
        assert not re.search(r"\d\d:\d\d", run_name)
    listed = formats(shell, shell.run_line_magic("dsp", "runs"))["text/plain"]
    assert all(n in listed for n in names)


def test_a_schedule_and_its_runs_are_named_after_pipeline_and_trigger(shell, stack, unique_name):
    name = unique_name("names-sched")
    run_cell(shell, pipeline_source(name))
    shell.run_line_magic("dsp", "upload pipeline")
    sched = shell.run_line_magic("dsp", f"schedule {name} --every 2s -p a=1")
    try:
        assert sched.name == f"{name} · every 2s"
        deadline = time.monotonic() + 30
        while not (made := runs_of_schedule(stack, sched.id)) and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        shell.run_line_magic("dsp", f"unschedule {sched.id}")
    assert made
    for run in made:  # "<pipeline> · every 2s · 2026-12-03 06:00:02", no RFC 3339 stamp
        assert re.fullmatch(
            re.escape(sched.name) + r" · \d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)?", run["display_name"]
        ), run["display_name"]


@pytest.mark.parametrize(
    ("cron", "every", "words"),
    [
        ("0 0 6 * * *", 0, "daily 06:00"),
        ("0 30 7 * * 1", 0, "Mondays 07:30"),
        ("0 0 8 * * 1-5", 0, "weekdays 08:00"),
        ("0 15 * * * *", 0, "hourly at :15"),
        ("0 0 6 1 * *", 0, "cron 0 6 1 * *"),
        ("*/2 * * * * *", 0, "cron */2 * * * * *"),
        ("", 3600, "every 1h"),
        ("", 90, "every 1m30s"),
        ("", 86400, "every 1d"),
    ],
)
def test_triggers_in_words(cron, every, words):
    assert trigger_words(cron, every) == words


def test_a_long_schedule_name_still_gives_a_valid_run_name():
    made = scheduled_run_name("x" * 200, 1_796_000_000, limit=128)
    assert len(made) == 128 and made.endswith(":20") and "…" in made
