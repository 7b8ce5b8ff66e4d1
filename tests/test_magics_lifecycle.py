"""%dsp schedule / schedules / unschedule / enable / disable / experiments / rerun / diff /
delete in a real IPython shell against a real embedded stack (the session stack)."""

from __future__ import annotations

import json
import time

import pytest
from IPython.core.error import UsageError
from kernel_helpers import client_for, pipeline_source
from kernel_shell import run_cell

from jupyter_dsp.client import DSPError, Run
from jupyter_dsp.client.diff import VersionDiff
from jupyter_dsp.client.lifecycle_models import Deleted, Schedule

pytestmark = pytest.mark.timeout(300)
WAIT = "--wait --timeout 240"


def upload(sh, name: str, source: str | None = None, version: str | None = None) -> None:
    run_cell(sh, source or pipeline_source(name))
    sh.run_line_magic("dsp", "upload pipeline" + (f" --version {version}" if version else ""))


def runs_of_schedule(stack, schedule_id: str) -> list[dict]:
    client = client_for(stack)
    predicate = {"key": "recurring_run_id", "operation": "EQUALS", "string_value": schedule_id}
    page = client.kfp.runs.run_service_list_runs(
        namespace="default", filter=json.dumps({"predicates": [predicate]}), page_size=200
    )
    return [r.to_dict() for r in page.runs or []]


def formats(sh, obj) -> dict:
    data, _ = sh.display_formatter.format(obj)
    return data


def test_schedule_every_two_seconds_then_disable_and_unschedule(shell, stack, unique_name):
    name = unique_name("sched")
    upload(shell, name)
    sched = shell.run_line_magic(
        "dsp", f"schedule {name} --every 2s -p a=3 --name {name}-every2 --max-concurrency 5"
    )
    try:
        assert isinstance(sched, Schedule) and sched.enabled
        assert sched.interval_second == 2 and sched.parameters == {"a": 3}
        assert sched.version_id  # pinned to the newest version
        time.sleep(7)
        made = runs_of_schedule(stack, sched.id)
        assert len(made) >= 2
        assert all(r["runtime_config"]["parameters"]["a"] == 3 for r in made)

        shell.user_ns["s"] = sched
        listed = shell.run_line_magic("dsp", "schedules")
        mine = listed.by_name(f"{name}-every2")
        assert mine is not None and mine.next_fire_time is not None
        data = formats(shell, listed)
        assert f"{name}-every2" in data["text/plain"] and "every 2s" in data["text/html"]

        off = shell.run_line_magic("dsp", "disable s")
        assert off.status == "DISABLED"
        settled = len(runs_of_schedule(stack, sched.id))
        time.sleep(4)
        assert len(runs_of_schedule(stack, sched.id)) == settled
        assert shell.run_line_magic("dsp", f"enable {name}-every2").status == "ENABLED"
    finally:
        gone = shell.run_line_magic("dsp", f"unschedule {sched.id}")
    assert gone.status == "DELETED"
    assert shell.run_line_magic("dsp", "schedules").by_name(f"{name}-every2") is None
    assert runs_of_schedule(stack, sched.id)  # its runs stay


def test_schedule_cron_five_fields_and_usage_errors(shell, unique_name):
    name = unique_name("cron")
    upload(shell, name)
    sched = shell.run_line_magic("dsp", f"schedule {name} --cron '0 6 * * *' -p a=1 --latest")
    try:
        assert sched.cron == "0 0 6 * * *"  # KFP's 6 fields, seconds first
        assert sched.version_id == ""  # newest version at each firing
        assert sched.next_fire_time is not None
        assert (sched.next_fire_time.hour, sched.next_fire_time.minute) == (6, 0)
        assert sched.name == f"{name} · daily 06:00"  # named after its pipeline and trigger
        text = formats(shell, sched)["text/plain"]
        assert "cron '0 6 * * *' (UTC), daily 06:00" in text  # as typed, not KFP's 6 fields
        assert "0 0 6" not in text
    finally:
        shell.run_line_magic("dsp", f"unschedule {sched.id}")

    for line, needle in [
        (f"schedule {name} -p a=1", "--cron"),
        (f"schedule {name} --cron 'every day' -p a=1", "--cron 'every day'"),
        (f"schedule {name} --every soon -p a=1", "--every"),
        (f"schedule {name} --every 1h", "a"),  # a required parameter is missing
        (f"schedule {name} --every 1h -p a=1 --max-concurrency 11", "max-concurrency"),
        ("unschedule no-such-schedule", "schedules"),
    ]:
        with pytest.raises(UsageError) as err:
            shell.run_line_magic("dsp", line)
        assert needle in str(err.value), line


def test_experiments_group_runs_and_archive_restore(shell, unique_name):
    name = unique_name("exp")
    upload(shell, name)
    e1, e2 = unique_name("team-e1"), unique_name("team-e2")
    r1 = shell.run_line_magic("dsp", f"run {name} -p a=1 --experiment {e1}")
    r2 = shell.run_line_magic("dsp", f"run {name} -p a=2 --experiment {e2}")
    listed = shell.run_line_magic("dsp", "experiments")
    exp1, exp2 = listed.by_name(e1), listed.by_name(e2)
    assert exp1 is not None and exp2 is not None
    assert r1.experiment_id == exp1.id and r2.experiment_id == exp2.id
    client = shell.magics_manager.registry["DSPMagic"].client
    in_e1 = client.kfp.runs.run_service_list_runs(experiment_id=exp1.id).runs or []
    assert [r.run_id for r in in_e1] == [r1.id]
    assert e1 in formats(shell, listed)["text/html"]

    archived = shell.run_line_magic("dsp", f"experiments --archive {e2}")
    assert archived.archived
    assert shell.run_line_magic("dsp", "experiments").by_name(e2) is None
    assert shell.run_line_magic("dsp", "experiments --all").by_name(e2).archived
    restored = shell.run_line_magic("dsp", f"experiments --restore {e2}")
    assert not restored.archived
    assert shell.run_line_magic("dsp", "experiments").by_name(e2) is not None
    with pytest.raises(UsageError, match="experiments --all"):
        shell.run_line_magic("dsp", "experiments --archive no-such-experiment")


def test_rerun_reproduces_the_parameters_with_the_changes(shell, unique_name):
    name = unique_name("rerun")
    upload(shell, name)
    exp = unique_name("rerun-exp")
    first = shell.run_line_magic(
        "dsp", f"run {name} -p a=2 -p label=first -p 'flags=[\"x\"]' --experiment {exp} {WAIT}"
    )
    assert first.state == "SUCCEEDED", first.error
    shell.user_ns["r"] = first
    again = shell.run_line_magic("dsp", f"rerun r -p a=5 {WAIT}")
    assert isinstance(again, Run) and again.state == "SUCCEEDED", again.error
    assert again.id != first.id
    assert again.parameters == {**first.parameters, "a": 5}
    assert again.parameters["label"] == "first" and again.parameters["flags"] == ["x"]
    assert (again.pipeline_id, again.version_id) == (first.pipeline_id, first.version_id)
    assert again.experiment_id == first.experiment_id
    assert again.name == f"Rerun of {first.name}"
    logs = shell.run_line_magic("dsp", f"logs {again.id} add")
    assert "adding 5 and 0.5" in logs.text
    with pytest.raises(UsageError):
        shell.run_line_magic("dsp", f"rerun {first.id} -p nope=1")


CHANGED = """
from kfp import dsl

@dsl.component(base_image="python:3.11")
def add(a: int, b: float, sleep: float = 0.0) -> float:
    print(f"adding {a} and {b} (v2)")
    return a + b

@dsl.component(base_image="python:3.11")
def report(total: float, label: str, flags: list) -> str:
    text = f"{label}: total={total} flags={flags}"
    print(text)
    return text

@dsl.component(base_image="python:3.11")
def double(x: float) -> float:
    return 2 * x

@dsl.pipeline(name="NAME")
def pipeline(a: int, b: float = 0.75, label: str = "sum", flags: list = []):
    total = add(a=a, b=b)
    report(total=total.output, label=label, flags=flags)
    double(x=total.output)
"""


def test_diff_names_changed_default_added_component_and_changed_code(shell, unique_name):
    name = unique_name("diff")
    upload(shell, name, version="v1")
    upload(shell, name, CHANGED.replace("NAME", name), version="v2")
    diff = shell.run_line_magic("dsp", f"diff {name}")
    assert isinstance(diff, VersionDiff) and diff.changed
    assert (diff.old.name, diff.new.name) == ("v1", "v2")
    assert "parameter 'b' default changed: 0.5 -> 0.75" in diff.summary
    assert "component 'double' added" in diff.summary
    assert "component 'add' code changed" in diff.summary
    assert "component 'report' code changed" not in diff.summary
    code = next(c for c in diff.components["changed"] if c["name"] == "comp-add")["code_diff"]
    assert '+    print(f"adding {a} and {b} (v2)")' in code
    nodes = {n["id"]: n["status"] for n in diff.dag["new"]["nodes"]}
    assert nodes == {"add": "changed", "report": "same", "double": "added"}
    data = formats(shell, diff)
    assert "double" in data["text/html"] and "default changed" in data["text/plain"]
    assert "comp-" not in data["text/plain"]

    same = shell.run_line_magic("dsp", f"diff {name} v1 v1")
    assert not same.changed
    for line in (f"diff {name} v1", f"diff {name} v1 v9", "diff no-such-pipeline"):
        with pytest.raises(UsageError):
            shell.run_line_magic("dsp", line)


def test_delete_removes_what_it_says_and_nothing_else(shell, unique_name):
    keep, gone = unique_name("keep"), unique_name("gone")
    upload(shell, keep)
    upload(shell, gone, version="g1")
    upload(shell, gone, version="g2")
    client = shell.magics_manager.registry["DSPMagic"].client
    r1 = shell.run_line_magic("dsp", f"run {keep} -p a=1 {WAIT}")
    r2 = shell.run_line_magic("dsp", f"run {keep} -p a=2 {WAIT}")

    with pytest.raises(UsageError, match="--yes"):
        shell.run_line_magic("dsp", f"delete run {r1.id}")
    assert client.get_run(r1.id).id == r1.id  # not deleted without --yes
    deleted = shell.run_line_magic("dsp", f"delete run {r1.id} --yes")
    assert isinstance(deleted, Deleted) and deleted.id == r1.id
    with pytest.raises(DSPError):
        client.get_run(r1.id)
    assert client.get_run(r2.id).state == "SUCCEEDED"

    with pytest.raises(UsageError, match="VERSION"):
        shell.run_line_magic("dsp", f"delete version {gone} --yes")
    shell.run_line_magic("dsp", f"delete version {gone} g1 --yes")
    assert [v.name for v in client.versions(gone)] == ["g2"]
    removed = shell.run_line_magic("dsp", f"delete pipeline {gone} --yes")
    assert removed.kind == "pipeline" and len(removed.versions) == 1
    with pytest.raises(UsageError):
        shell.run_line_magic("dsp", f"versions {gone}")
    assert client.find_pipeline(keep).name == keep  # the other pipeline stays
    assert "Deleted pipeline" in formats(shell, removed)["text/plain"]


def test_shared_pipeline_cannot_be_deleted_under_read_only(shell, stack, unique_name):
    name = unique_name("shared")
    run_cell(shell, pipeline_source(name))
    shell.run_line_magic("dsp", "upload pipeline --shared")
    version = client_for(stack).versions(name, "shared")[0].name
    magic = shell.magics_manager.registry["DSPMagic"]
    magic.client = client_for(stack, shared_writable=False)  # policy read-only
    with pytest.raises(DSPError, match="read-only"):
        shell.run_line_magic("dsp", f"delete pipeline {name} --shared --yes")
    with pytest.raises(DSPError, match="read-only"):
        shell.run_line_magic("dsp", f"delete version {name} {version} --shared --yes")
    assert client_for(stack).find_pipeline(name, "shared").name == name  # still there
    magic.client = client_for(stack)
    shell.run_line_magic("dsp", f"delete pipeline {name} --shared --yes")  # read-write may


def test_help_lists_the_lifecycle_commands(shell, capsys):
    doc = shell.find_line_magic("dsp").__doc__
    for command in ("schedule", "schedules", "unschedule", "experiments", "rerun", "diff"):
        assert f"%dsp {command}" in doc
    assert "--yes" in doc


def test_run_again_opens_a_filled_run_form(shell, stack, unique_name):
    from jupyter_dsp.widgets import RunMonitor

    name = unique_name("again")
    upload(shell, name)
    exp = unique_name("again-exp")
    first = shell.run_line_magic(
        "dsp", f"run {name} -p a=4 -p label=orig -p 'flags=[1, 2]' --experiment {exp} {WAIT}"
    )
    client = client_for(stack)
    monitor = RunMonitor(client, first, autostart=False)
    form = monitor.run_again()
    assert monitor.again_box.children == (form,)
    values = {k: box.value for k, box in form.inputs.items()}
    assert values["a"] == "4" and values["label"] == "orig" and values["flags"] == "[1, 2]"
    assert form.experiment.value == exp
    assert form.run_name.value == f"Rerun of {first.name}"
    assert "(project)" in form.heading.value  # the run's pipeline version, not a local spec
    form.inputs["a"].value = "7"
    new = form.submit()
    assert new is not None, form.status.value
    done = client.wait(new.id, timeout=240)
    assert done.parameters["a"] == 7 and done.parameters["label"] == "orig"
    assert done.version_id == first.version_id and done.experiment_id == first.experiment_id
    if form.monitor is not None:
        form.monitor.stop()


def test_delete_confirmation_widget_deletes_only_on_delete(shell, stack, unique_name):
    from jupyter_dsp.magics.lifecycle import confirm_widget

    name = unique_name("confirm")
    upload(shell, name)
    client = client_for(stack)
    r1 = shell.run_line_magic("dsp", f"run {name} -p a=1")
    r2 = shell.run_line_magic("dsp", f"run {name} -p a=2")

    cancel = confirm_widget(f"Delete run {r1.id}?", lambda: client.delete_run(r1.id))
    cancel.children[1].children[1].click()  # Cancel
    assert cancel.result is None and "Not deleted" in cancel.children[2].value
    assert client.get_run(r1.id).id == r1.id

    box = confirm_widget(f"Delete run {r1.id}?", lambda: client.delete_run(r1.id))
    box.children[1].children[0].click()  # Delete
    assert isinstance(box.result, Deleted) and box.result.id == r1.id
    assert "Deleted run" in box.children[2].value
    with pytest.raises(DSPError):
        client.get_run(r1.id)
    assert client.get_run(r2.id).id == r2.id

    failing = confirm_widget("Delete it?", lambda: client.delete_run(r1.id))  # gone already
    failing.children[1].children[0].click()
    assert "NotFoundError" in failing.children[2].value  # shown, no traceback
