"""Argument-parser pieces the ``%dsp`` sub-commands share (parser.py, lifecycle.py)."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from typing import Any

PARAM_HELP = "parameter (repeat -p, or list several); lists/dicts as JSON"


def param_option(p: argparse.ArgumentParser) -> None:
    """``-p KEY=VALUE ...`` (repeatable), for the commands that take pipeline parameters."""
    p.add_argument(
        "-p",
        "--param",
        dest="params",
        action="extend",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help=PARAM_HELP,
    )


def add_each(
    add: Callable[[str, str], argparse.ArgumentParser],
    commands: Iterable[tuple[str, str]],
    *argument: str,
    **options: Any,
) -> None:
    """Several sub-commands, ``(name, summary)``, that take the same one argument."""
    for name, text in commands:
        add(name, text).add_argument(*argument, **options)
