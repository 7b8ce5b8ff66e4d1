"""``%dsp schedule``, ``schedules``, ``unschedule``, ``enable``, ``disable``, ``experiments``,
``rerun``, ``diff`` and ``delete``: the rest of a pipeline's life from the notebook.

Mixed into :class:`~jupyter_dsp.magics.dsp_magic.DSPMagic` (which gives ``client``, ``shell``,
``_pipeline``, ``_run_id``, ``_wait`` and ``_watch``); :func:`add_parsers` adds the sub-commands
to the ``%dsp`` parser. Each returns its record (Schedule, list, Run, VersionDiff, Deleted).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from html import escape
from typing import Any

from IPython.core.error import UsageError

from jupyter_dsp.client.params import parse_assignments
from jupyter_dsp.magics.options import add_each, param_option

SUMMARY_LINES = """\
  %dsp schedule PIPELINE (--cron '0 6 * * *' | --every 1h) [-p key=value ...] [--name N]
  %dsp schedules          %dsp unschedule SCHEDULE   %dsp enable|disable SCHEDULE
  %dsp experiments [--all] [--archive NAME | --restore NAME]
  %dsp rerun RUN_ID [-p key=value ...]       same version and parameters, with the changes
  %dsp diff PIPELINE [V1 V2]                 what changed between two versions
  %dsp delete run|version|pipeline NAME_OR_ID [VERSION] --yes
"""

_SCHEDULE_HELP = "schedule name or id"


def _spaces(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument("--project", dest="space", action="store_const", const="project")
    group.add_argument("--shared", dest="space", action="store_const", const="shared")


def add_parsers(add: Callable[[str, str], argparse.ArgumentParser]) -> None:
    p = add(
        "schedule",
        "Run a pipeline on a schedule in the project (a KFP recurring run). --cron takes 5 "
        "fields (minute hour day month weekday, UTC) or KFP's 6 (seconds first).",
    )
    p.add_argument("pipeline", metavar="PIPELINE", help="pipeline name/id on the stack, or file")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--cron", help="cron expression, e.g. '0 6 * * *' (06:00 UTC daily)")
    when.add_argument("--every", help="fixed interval, e.g. 30s, 15m, 1h, 1h30m, 2d")
    param_option(p)
    p.add_argument("--name", help="schedule name (default: the pipeline's)")
    p.add_argument("--experiment", help="experiment of its runs (created if missing)")
    version = p.add_mutually_exclusive_group()
    version.add_argument("--version", help="pipeline version name or id (default: the newest)")
    version.add_argument(
        "--latest", action="store_true", help="use the newest version at each firing"
    )
    p.add_argument("--max-concurrency", type=int, default=1, help="runs at once, 1-10 (1)")
    p.add_argument(
        "--no-catchup", action="store_true", help="after downtime run once, not each missed time"
    )
    p.add_argument("--start", help="first possible time, RFC 3339 (e.g. 2026-12-01T00:00:00Z)")
    p.add_argument("--end", help="last possible time, RFC 3339")
    p.add_argument("--disabled", action="store_true", help="create it disabled")
    _spaces(p)

    add("schedules", "List the project's schedules with their next firing time.")
    schedule_commands = (
        ("unschedule", "Delete a schedule (the runs it made stay)."),
        ("enable", "Enable a schedule: it fires again from now on."),
        ("disable", "Disable a schedule: it makes no more runs until enabled."),
    )
    add_each(add, schedule_commands, "schedule", metavar="SCHEDULE", help=_SCHEDULE_HELP)

    p = add("experiments", "List the project's experiments; archive or restore one.")
    p.add_argument("--all", action="store_true", help="archived experiments too")
    action = p.add_mutually_exclusive_group()
    action.add_argument("--archive", metavar="NAME", help="archive this experiment")
    action.add_argument("--restore", metavar="NAME", help="restore an archived experiment")

    p = add("rerun", "Run again: the run's pipeline version and parameters, with -p changes.")
    p.add_argument("run_id", metavar="RUN_ID", help="run id, or a variable holding a run")
    param_option(p)
    p.add_argument("--name", help="name of the new run (default: 'Rerun of ...')")
    p.add_argument("--experiment", help="experiment (default: the run's)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--wait", action="store_true", help="block until the run ends")
    mode.add_argument("--watch", action="store_true", help="show a live monitor")
    p.add_argument("--timeout", type=float, help="seconds to wait at most (with --wait)")

    p = add("diff", "Compare two versions of a pipeline (default: the two newest).")
    p.add_argument("pipeline", metavar="PIPELINE", help="pipeline name or id")
    p.add_argument("versions", metavar="VERSION", nargs="*", help="V1 V2 (names or ids)")
    _spaces(p)

    p = add("delete", "Delete a run, a pipeline version or a pipeline (asks first; --yes).")
    p.add_argument("kind", choices=("run", "version", "pipeline"), help="what to delete")
    p.add_argument("target", metavar="NAME_OR_ID", help="run, or pipeline, name or id")
    p.add_argument("version", metavar="VERSION", nargs="?", help="with `version`: which one")
    p.add_argument("--yes", action="store_true", help="delete without asking")
    _spaces(p)


class LifecycleCommands:
    """The sub-commands; ``self`` is the DSPMagic instance."""

    client: Any
    shell: Any
    _pipeline: Callable[..., Any]
    _run_id: Callable[[str], str]
    _lookup: Callable[[str], Any]
    _follow: Callable[[Any, argparse.Namespace], Any]  # --wait / --watch of a new run

    def _cmd_schedule(self, args: argparse.Namespace) -> Any:
        if not args.cron and not args.every:
            raise UsageError(
                "Say when: --cron '0 6 * * *' (06:00 UTC daily) or --every 1h."
                f" Usage: %dsp schedule {args.pipeline} --cron '0 6 * * *' -p key=value"
            )
        return self.client.schedule(
            self._pipeline(args.pipeline),
            parse_assignments(args.params),
            cron=args.cron,
            every=args.every,
            name=args.name,
            experiment=args.experiment,
            space=args.space,
            version=args.version,
            latest=args.latest,
            max_concurrency=args.max_concurrency,
            catchup=not args.no_catchup,
            start=args.start,
            end=args.end,
            enabled=not args.disabled,
        )

    def _schedule_ref(self, text: str) -> str:
        obj = self._lookup(text)
        ident = getattr(obj, "id", None)
        if obj is not None and type(obj).__name__ == "Schedule" and isinstance(ident, str):
            return ident
        return text

    def _cmd_schedules(self, args: argparse.Namespace) -> Any:
        return self.client.schedules()

    def _cmd_unschedule(self, args: argparse.Namespace) -> Any:
        return self.client.unschedule(self._schedule_ref(args.schedule))

    def _cmd_enable(self, args: argparse.Namespace) -> Any:
        return self.client.enable_schedule(self._schedule_ref(args.schedule))

    def _cmd_disable(self, args: argparse.Namespace) -> Any:
        return self.client.disable_schedule(self._schedule_ref(args.schedule))

    def _cmd_experiments(self, args: argparse.Namespace) -> Any:
        if args.archive:
            return self.client.archive_experiment(args.archive)
        if args.restore:
            return self.client.restore_experiment(args.restore)
        return self.client.experiments(archived=args.all)

    def _cmd_rerun(self, args: argparse.Namespace) -> Any:
        obj = self._lookup(args.run_id)
        run = obj if type(obj).__name__ == "Run" else self._run_id(args.run_id)
        new = self.client.rerun(
            run, parse_assignments(args.params), name=args.name, experiment=args.experiment
        )
        return self._follow(new, args)

    def _cmd_diff(self, args: argparse.Namespace) -> Any:
        if len(args.versions) not in (0, 2):
            raise UsageError(
                f"Give two versions or none: `%dsp diff {args.pipeline} V1 V2`, or"
                f" `%dsp diff {args.pipeline}` for the two newest."
            )
        v1, v2 = args.versions if args.versions else (None, None)
        return self.client.diff(args.pipeline, v1, v2, args.space)

    def _cmd_delete(self, args: argparse.Namespace) -> Any:
        if args.kind == "version" and not args.version:
            raise UsageError(
                f"Name the version: `%dsp delete version {args.target} VERSION --yes`"
                f" (`%dsp versions {args.target}` lists them)."
            )
        if args.kind != "version" and args.version:
            raise UsageError(f"`%dsp delete {args.kind}` takes one NAME_OR_ID, not a VERSION.")
        target = self._run_id(args.target) if args.kind == "run" else args.target

        def do() -> Any:
            if args.kind == "run":
                return self.client.delete_run(target)
            if args.kind == "version":
                return self.client.delete_version(target, args.version, args.space)
            return self.client.remove_pipeline(target, args.space)

        what = f"{args.kind} {args.target}" + (f" {args.version}" if args.version else "")
        if args.yes:
            return do()
        if type(self.shell).__name__ == "ZMQInteractiveShell":
            return confirm_widget(f"Delete {what}? This cannot be undone.", do)
        line = f"%dsp delete {args.kind} {args.target}" + (
            f" {args.version}" if args.version else ""
        )
        raise UsageError(f"Deleting cannot be undone: add --yes to confirm (`{line} --yes`).")


def confirm_widget(question: str, action: Callable[[], Any]) -> Any:
    """Delete / Cancel buttons; the outcome is shown in the widget and kept as ``.result``."""
    import ipywidgets as w

    label = w.HTML(f"<b>{escape(question)}</b>")
    yes = w.Button(description="Delete", button_style="danger", icon="trash")
    no = w.Button(description="Cancel")
    out = w.HTML()
    box = w.VBox([label, w.HBox([yes, no]), out])
    box.result = None  # type: ignore[attr-defined]

    def on_yes(_: Any) -> None:
        yes.disabled = no.disabled = True
        try:
            box.result = action()  # type: ignore[attr-defined]
            out.value = box.result._repr_html_()  # type: ignore[attr-defined]
        except Exception as exc:  # shown in the widget, never a traceback
            message = escape(f"{type(exc).__name__}: {exc}")
            out.value = f'<span style="color:#c62828">{message}</span>'

    def on_no(_: Any) -> None:
        yes.disabled = no.disabled = True
        out.value = "<i>Not deleted.</i>"

    yes.on_click(on_yes)
    no.on_click(on_no)
    return box
