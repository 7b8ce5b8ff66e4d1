"""``%dsp run ... --local``: run on the local stack the Jupyter server owns, leaving the
project's cluster stack untouched (see :mod:`jupyter_dsp.client.local`)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from jupyter_dsp.client import DSPClient, Run
from jupyter_dsp.client.local import is_local_mode, local_client, run_locally


def local_client_of(magic: Any) -> DSPClient:
    """The magic's client for the local stack (the project client itself out of a cluster)."""
    cluster: DSPClient = magic.client
    if is_local_mode(cluster):
        return cluster
    cached = getattr(magic, "_local_client", None)
    if cached is None:
        cached = local_client(cluster.namespace)
        magic._local_client = cached
    cached.default_experiment = cluster.default_experiment
    cached.poll_interval = cluster.poll_interval
    return cached


def cmd_run_local(
    magic: Any,
    args: argparse.Namespace,
    target: Any,
    arguments: Mapping[str, Any],
    options: dict[str, Any],
) -> Any:
    """``%dsp run ... --local``: ``target`` with ``arguments`` and the run ``options``
    (experiment, name, space, version) the magic read from ``args``, on the local stack."""
    cluster: DSPClient = magic.client
    local = local_client_of(magic)
    run: Run = run_locally(cluster, local, target, arguments, **options)
    if args.wait:
        return mark_local(local.wait(run.id, timeout=args.timeout or magic.wait_timeout))
    if args.watch:
        from jupyter_dsp.widgets import RunMonitor

        return RunMonitor(local, mark_local(run), poll_interval=magic.poll_interval)
    return mark_local(run)


# commands that name runs: with --local (or given a run that ran locally) they go to the
# local stack; `run --local` is cmd_run_local above
LOCAL_COMMANDS = (
    "runs",
    "show",
    "terminate",
    "retry",
    "wait",
    "logs",
    "outputs",
    "download",
    "rerun",
)


def add_local_options(choices: Mapping[str, argparse.ArgumentParser]) -> None:
    for name in LOCAL_COMMANDS:
        parser = choices.get(name)
        if parser is not None:
            parser.add_argument(
                "--local",
                action="store_true",
                help="the workbench's local stack (runs made with `run --local`)",
            )


def mark_local(run: Run) -> Run:
    """Remember on the returned run that it lives on the local stack, so that
    `%dsp logs r` (r holding it) goes there without --local."""
    run.space = "local"  # type: ignore[attr-defined]
    return run


@contextmanager
def local_client_for(magic: Any, args: argparse.Namespace) -> Iterator[None]:
    """While one command runs, the magic's client is the local stack's when asked for."""
    wanted = args.command in LOCAL_COMMANDS and (
        getattr(args, "local", False)
        or getattr(magic._lookup(getattr(args, "run_id", "") or ""), "space", "") == "local"
    )
    if not wanted:
        yield
        return
    cluster = magic.client
    local = local_client_of(magic)
    magic._client = local
    try:
        yield
    finally:
        magic._client = cluster
