"""Issue 20 in the kernel: a hostile stack on loopback (tests/hostile_upstream.py) echoes the
kernel's bearer token (a JWT) in every field, header and artifact it serves, and its log offsets
never advance. In a real IPython shell connected to it, ``%dsp show`` and ``%dsp outputs`` (what
a notebook saves: every MIME bundle and the printed text) carry no 16-character piece of any
JWT part, and ``%dsp logs`` (one task, or every task) stops after a few reads with one clear
line that says the log is not advancing, never a loop and never a traceback."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from hostile_upstream import RUN, TASK, HostileUpstream, leaked
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from test_server_egress import JWT
from traitlets.config import Config

from jupyter_dsp.client import DSPError

pytest_plugins = ("fixtures_cluster",)


@pytest.fixture
def hostile() -> Iterator[HostileUpstream]:
    up = HostileUpstream().start()
    yield up
    up.stop()


@pytest.fixture
def shell(hostile, tmp_path, monkeypatch, clean_dsp_env) -> Iterator[InteractiveShell]:
    monkeypatch.chdir(tmp_path)
    token_file = tmp_path / "jwt"
    token_file.write_text(JWT)
    config = Config()
    config.HistoryManager.enabled = False
    InteractiveShell.clear_instance()
    sh = InteractiveShell.instance(config=config)
    sh.run_line_magic("load_ext", "jupyter_dsp")
    sh.run_line_magic(
        "dsp", f"connect --endpoint {hostile.url} --token-file {token_file} --namespace team-a"
    )
    try:
        yield sh
    finally:
        InteractiveShell.clear_instance()


def run(shell: InteractiveShell, line: str) -> tuple[str, BaseException | None]:
    """Everything a notebook would keep of ``line``: printed text, displayed bundles, the
    value's bundle and the error as IPython shows it."""
    with capture_output() as captured:
        result = shell.run_cell(line)
    parts = [captured.stdout, captured.stderr]
    parts += [str(o.data) for o in captured.outputs]
    if result.result is not None:
        parts.append(str(shell.display_formatter.format(result.result)[0]))
    error = result.error_in_exec
    if error is not None:
        shown = getattr(error, "_render_traceback_", None)
        parts.append("\n".join(shown()) if shown else str(error))
    return "\n".join(parts), error


@pytest.mark.parametrize(
    "line", [f"%dsp show {RUN}", f"%dsp outputs {RUN}", f"%dsp outputs {RUN} {TASK}"]
)
def test_show_and_outputs_keep_no_part_of_the_token(shell, line):
    text, error = run(shell, line)
    assert error is None, error
    assert len(text) > 2000  # the run, its outputs and its report are shown
    assert "[redacted]" in text  # what was the token
    assert not leaked(text, JWT), (line, leaked(text, JWT)[:3])


@pytest.mark.parametrize("line", [f"%dsp logs {RUN} {TASK}", f"%dsp logs {RUN}"])
def test_logs_that_never_advance_stop_with_one_clear_line(shell, hostile, line):
    before = hostile.log_reads
    started = time.monotonic()
    text, error = run(shell, line)
    assert isinstance(error, DSPError), error
    shown = error._render_traceback_()
    assert len(shown) <= 3 and "not advancing" in shown[0], shown  # no traceback
    assert "Traceback" not in text
    assert hostile.log_reads - before <= 5  # a few reads, not a loop
    assert time.monotonic() - started < 10
    assert not leaked(text, JWT)
