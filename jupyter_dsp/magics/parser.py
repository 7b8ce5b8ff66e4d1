"""Command line of the ``%dsp`` magic: sub-commands, options, and help text generated from them."""

from __future__ import annotations

import argparse
import difflib
import shlex
from typing import NoReturn

from IPython.core.error import UsageError

from jupyter_dsp.magics.lifecycle import SUMMARY_LINES as LIFECYCLE_SUMMARY
from jupyter_dsp.magics.lifecycle import add_parsers as add_lifecycle_parsers
from jupyter_dsp.magics.local import add_local_options
from jupyter_dsp.magics.options import add_each, param_option
from jupyter_dsp.magics.results import add_parsers as add_results_parsers

RUN_STATES = (
    "PENDING",
    "RUNNING",
    "SUCCEEDED",
    "SKIPPED",
    "FAILED",
    "CANCELING",
    "CANCELED",
    "PAUSED",
)

SUMMARY = """\
Kubeflow pipelines of your project and of the shared space, from the notebook.

  %dsp info                                  what you are connected to
  %dsp connect [--endpoint URL ...]          (re)connect; no options = same settings as the server
  %dsp compile PIPELINE [-o file.yaml]       compile with kfp.compiler
  %dsp upload PIPELINE [--shared] [--name N] [--version V] [--description D]
  %dsp list [--project | --shared | --all]   pipelines with their versions
  %dsp versions NAME [--project | --shared]
  %dsp fork SHARED_NAME [--as NAME] [--version V]
  %dsp run PIPELINE [-p key=value ...] [--experiment E] [--wait | --watch] [--local]
  %dsp runs [--limit N] [--state S]
  %dsp show RUN_ID        %dsp wait RUN_ID       %dsp logs RUN_ID [TASK]
  %dsp terminate RUN_ID   %dsp retry RUN_ID      %dsp browse
  %dsp outputs RUN_ID [TASK]                 output values, metrics, charts, reports, datasets
  %dsp download RUN_ID TASK ARTIFACT [-o PATH]
  %dsp compare RUN_ID RUN_ID ...             parameters and metrics of runs side by side
{lifecycle}
PIPELINE is a @dsl.pipeline function of the notebook, a .py file (file.py or file.py:NAME),
a compiled .yaml/.json file, or the name or id of a pipeline on the stack. RUN_ID may also be
a variable holding a run. Each command returns its result (pipeline version, run, list...) so
`x = %dsp ...` keeps it for the next cell. `%dsp COMMAND --help` shows one command's options.
"""
SUMMARY = SUMMARY.replace("{lifecycle}", LIFECYCLE_SUMMARY)


_PIPELINE_HELP = "notebook pipeline function, .py/.yaml file, or a pipeline name/id on the stack"
_RUN_HELP = "run id, or a variable holding a run"


class HelpShown(Exception):
    """``--help`` printed the help text; nothing more to do."""


class MagicArgumentParser(argparse.ArgumentParser):
    """argparse that raises ``UsageError`` (with the fix) instead of exiting the kernel."""

    commands: tuple[str, ...] = ()  # the sub-commands (set on the top-level parser)

    def error(self, message: str) -> NoReturn:
        usage = self.format_usage().strip().removeprefix("usage: ")
        raise UsageError(f"{message}.\nUsage: {usage}  (more: {self.prog} --help)")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if status:
            raise UsageError((message or "invalid usage").strip())
        raise HelpShown()


def _space_options(parser: argparse.ArgumentParser, *, all_option: bool = False) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--project", dest="space", action="store_const", const="project", help="project space"
    )
    group.add_argument(
        "--shared", dest="space", action="store_const", const="shared", help="shared space"
    )
    if all_option:
        group.add_argument(
            "--all", dest="space", action="store_const", const="all", help="both (default)"
        )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be more than 0 seconds")
    return value


def _state(text: str) -> str:
    value = text.upper()
    if value not in RUN_STATES:
        raise argparse.ArgumentTypeError(f"{text!r} is not a run state ({', '.join(RUN_STATES)})")
    return value


def build_parser() -> MagicArgumentParser:
    parser = MagicArgumentParser(
        prog="%dsp",
        description=SUMMARY,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=True,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=MagicArgumentParser)

    def add(name: str, help_text: str) -> MagicArgumentParser:
        return sub.add_parser(name, help=help_text, description=help_text)

    add("info", "Show the namespace, identity, endpoints and health (never a token).")

    p = add("connect", "Connect again: no options resolves like the server; or name a stack.")
    p.add_argument("--endpoint", help="stack URL, e.g. http://127.0.0.1:8888")
    p.add_argument("--token-file", help="file holding the bearer token (never pass a token)")
    p.add_argument("--namespace", help="project namespace (default: 'default')")
    p.add_argument("--shared-endpoint", help="URL of the shared space (default: same stack)")
    p.add_argument("--no-shared", action="store_true", help="turn the shared space off")

    p = add("compile", "Compile a pipeline function or .py file (or check a .yaml) to IR YAML.")
    p.add_argument("pipeline", metavar="PIPELINE", help=_PIPELINE_HELP)
    p.add_argument("-o", "--output", metavar="FILE", help="write the YAML here")
    p.add_argument(
        "--image",
        metavar="IMAGE",
        help="a notebook's step image: a runtime image's name or an image reference",
    )

    p = add("upload", "Upload privately to the project (or --shared); a known name gets a version.")
    p.add_argument(
        "pipeline", metavar="PIPELINE_OR_FILE", help="pipeline function, .py or .yaml file"
    )
    p.add_argument("--shared", action="store_true", help="upload to the shared space")
    p.add_argument("--name", help="pipeline name (default: the pipeline's own name)")
    p.add_argument("--version", help="version name (default: name and a UTC timestamp)")
    p.add_argument("--description", help="description")
    p.add_argument(
        "--image",
        metavar="IMAGE",
        help="a notebook's step image: a runtime image's name or an image reference",
    )

    p = add("list", "List pipelines with their versions (both spaces unless told).")
    _space_options(p, all_option=True)

    p = add("versions", "List the versions of a pipeline (project first, then shared).")
    p.add_argument("name", metavar="NAME", help="pipeline name or id")
    _space_options(p)

    p = add("fork", "Copy a shared pipeline's version into the project as a private pipeline.")
    p.add_argument("name", metavar="SHARED_NAME", help="shared pipeline name or id")
    p.add_argument("--as", dest="as_name", metavar="NAME", help="name in the project")
    p.add_argument("--version", help="shared version to copy (default: the newest)")

    p = add("run", "Run a pipeline in the project namespace; -p values are type-checked.")
    p.add_argument("pipeline", metavar="PIPELINE", help=_PIPELINE_HELP)
    param_option(p)
    p.add_argument("--experiment", help="experiment name (created if missing)")
    p.add_argument("--name", help="run name")
    p.add_argument("--version", help="pipeline version name or id (default: the newest)")
    p.add_argument(
        "--image",
        metavar="IMAGE",
        help="a notebook's step image: a runtime image's name or an image reference",
    )
    _space_options(p)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--wait", action="store_true", help="block until the run ends")
    mode.add_argument("--watch", action="store_true", help="show a live monitor")
    p.add_argument("--timeout", type=_seconds, help="seconds to wait at most (with --wait)")
    p.add_argument(
        "--local",
        action="store_true",
        help="run on this workbench's local stack (the cluster's stack is not touched)",
    )

    p = add("runs", "List the project's runs, newest first.")
    p.add_argument("--limit", type=_positive_int, default=None, help="how many (default 20)")
    p.add_argument("--state", type=_state, help="only runs in this state, e.g. RUNNING")

    run_commands = (
        ("show", "Show a run with its tasks."),
        ("terminate", "Terminate a run."),
        ("retry", "Retry a failed run."),
    )
    add_each(add, run_commands, "run_id", metavar="RUN_ID", help=_RUN_HELP)

    p = add("wait", "Wait until a run ends.")
    p.add_argument("run_id", metavar="RUN_ID", help=_RUN_HELP)
    p.add_argument("--timeout", type=_seconds, help="seconds to wait at most")

    p = add("logs", "Print the log of a task (by name or id), or of every task of the run.")
    p.add_argument("run_id", metavar="RUN_ID", help=_RUN_HELP)
    p.add_argument("task", metavar="TASK", nargs="?", help="task name or id (default: all)")
    p.add_argument(
        "--bytes",
        type=int,
        dest="log_bytes",
        help="how many bytes of each log (default: the last ~1 MB, JUPYTER_DSP_LOG_TAIL_BYTES)",
    )
    p.add_argument("--start", type=int, help="read from this byte instead of the tail")

    add("browse", "Open the pipeline browser widget (Shared and Project tabs).")
    add_results_parsers(add)
    add_lifecycle_parsers(add)
    add_local_options(sub.choices)
    parser.commands = tuple(sub.choices)
    return parser


def split_line(line: str) -> list[str]:
    try:
        return shlex.split(line, posix=True)
    except ValueError as exc:
        raise UsageError(f"Cannot read the command line: {exc} (check the quotes).") from None


def parse(parser: MagicArgumentParser, line: str) -> argparse.Namespace | None:
    """The parsed arguments; ``None`` when help was printed or the line is empty."""
    words = split_line(line)
    if not words:
        print(SUMMARY)
        return None
    check_command(parser, words[0])
    try:
        args = parser.parse_args(words)
    except HelpShown:
        return None
    if args.command is None:
        raise UsageError("Give a command, e.g. `%dsp list`; `%dsp?` lists them all.")
    return args


def check_command(parser: MagicArgumentParser, word: str) -> None:
    """An unknown sub-command is refused naming the closest one: ``%dsp rn`` -> ``run``."""
    if word.startswith("-") or not parser.commands or word in parser.commands:
        return
    close = difflib.get_close_matches(word, parser.commands, n=1, cutoff=0.5)
    hint = f"did you mean `%dsp {close[0]}`? " if close else ""
    raise UsageError(f"Unknown command {word!r}: {hint}`%dsp?` lists them all.")


def full_help(parser: MagicArgumentParser) -> str:
    """``%dsp?``: the summary, then every sub-command's own help."""
    parts = [SUMMARY, "Commands", "--------"]
    sub_action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in sub_action.choices.items():
        parts.append(f"\n%dsp {name}\n" + _indent(sub.format_help()))
    return "\n".join(parts)


def _indent(text: str) -> str:
    return "\n".join(("    " + line) if line.strip() else "" for line in text.splitlines())
