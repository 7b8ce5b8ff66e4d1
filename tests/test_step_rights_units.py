"""The pieces behind the step-rights rules, without a stack: import-root settings, the hand
back of a built environment, copies that follow no link."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from jupyter_dsp.connection.settings import DSPSettings
from jupyter_dsp.stack.runner import nofollow
from jupyter_dsp.stack.runner.env_build import hand_over, take_back
from jupyter_dsp.stack.runner.run_context import default_import_roots
from jupyter_dsp.stack.runner.step_settings import StepSettings


def test_import_roots_from_settings_reach_the_stack_command(monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    assert default_import_roots(None, multi_user=True) == []
    assert default_import_roots(None, multi_user=False) == [str(tmp_path)]
    assert default_import_roots(["~/data", "relative", "/srv/x/"], True) == [
        os.path.expanduser("~/data"),
        "/srv/x",
    ]
    settings = DSPSettings()
    settings.apply_environ({"JUPYTER_DSP_STEP_IMPORT_ROOTS": f"/srv/a{os.pathsep}/srv/b"})
    steps = StepSettings.from_settings(settings)
    assert steps.import_roots == ("/srv/a", "/srv/b")
    assert "--import-root=/srv/a" in steps.cli_args()
    assert StepSettings(import_roots=()).cli_args()[-1] == "--import-root="  # none at all
    assert StepSettings.from_settings(DSPSettings()).import_roots is None  # the mode's default


@pytest.mark.skipif(os.geteuid() != 0, reason="changing owners needs root")
def test_a_built_environment_is_taken_back_and_planted_entries_fail(tmp_path) -> None:
    uid = 250_123
    env = tmp_path / "env"
    (env / "lib").mkdir(parents=True)
    hand_over(env, uid)
    assert (env / "lib").stat().st_uid == uid
    (env / "lib" / "mod.py").write_text("x = 1\n")
    os.chown(env / "lib" / "mod.py", uid, uid)
    (env / "lib" / "mod.py").chmod(0o6777)  # what a hostile build could leave
    os.symlink("/etc/shadow", env / "lib" / "link")
    os.lchown(env / "lib" / "link", uid, uid)
    take_back(env, uid)
    st = (env / "lib" / "mod.py").stat()
    assert st.st_uid == 0 and stat.S_IMODE(st.st_mode) == 0o755  # no set-id, no others' write
    assert Path("/etc/shadow").stat().st_uid == 0 and (env / "lib" / "link").lstat().st_uid == 0
    # an entry the build user does not own (a file of someone else's linked in): refused
    hand_over(env, uid)
    stranger = env / "lib" / "stranger"
    stranger.write_text("")
    os.chown(stranger, 4242, 4242)
    with pytest.raises(nofollow.UnsafePath, match="does not own"):
        take_back(env, uid)


def test_copies_follow_no_link_and_stay_bounded(tmp_path) -> None:
    source = tmp_path / "out"
    (source / "d").mkdir(parents=True)
    (source / "d" / "f").write_text("data")
    os.symlink("f", source / "d" / "inside")
    nofollow.copy_path(
        str(source), str(tmp_path / "copy"), nofollow.Budget(100), "out", nofollow.LINKS_INSIDE
    )
    assert (tmp_path / "copy" / "d" / "f").read_text() == "data"
    assert os.readlink(tmp_path / "copy" / "d" / "inside") == "f"
    os.symlink("../../..", source / "d" / "up")
    with pytest.raises(nofollow.UnsafePath, match="symbolic link"):
        nofollow.copy_path(
            str(source), str(tmp_path / "c2"), nofollow.Budget(100), "out", nofollow.LINKS_INSIDE
        )
    os.unlink(source / "d" / "up")
    with pytest.raises(nofollow.UnsafePath, match="larger than 3 bytes"):
        nofollow.copy_path(
            str(source), str(tmp_path / "c3"), nofollow.Budget(3), "out", nofollow.LINKS_INSIDE
        )
    # a link planted where the copy goes is replaced, never written through
    victim = tmp_path / "victim"
    victim.write_text("keep")
    os.symlink(victim, tmp_path / "c4")
    nofollow.copy_path(str(source / "d" / "f"), str(tmp_path / "c4"), nofollow.Budget(100), "f")
    assert victim.read_text() == "keep" and (tmp_path / "c4").read_text() == "data"
