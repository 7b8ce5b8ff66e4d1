"""The ``%dsp`` line magic: one command line, sub-commands over :class:`DSPClient`."""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from traitlets import Float, Int, Unicode

from jupyter_dsp.client import (
    ArgumentError,
    CompiledPipeline,
    DSPClient,
    NotFoundError,
    Pipeline,
    PipelineVersion,
    Run,
    compile_source,
    connect,
)
from jupyter_dsp.client.compiling import SOURCE_SUFFIXES, is_pipeline_function
from jupyter_dsp.client.compiling import split_file_function as _split
from jupyter_dsp.client.params import parse_assignments
from jupyter_dsp.client.render import duration
from jupyter_dsp.magics.lifecycle import LifecycleCommands
from jupyter_dsp.magics.local import local_client_for
from jupyter_dsp.magics.parser import build_parser, full_help, parse
from jupyter_dsp.magics.results import ResultsCommands

_PARSER = build_parser()
_DOTTED_NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


@contextmanager
def _usage_errors() -> Iterator[None]:
    """Bad input from the user becomes ``UsageError``; stack failures stay one-line DSPErrors."""
    try:
        yield
    except (ArgumentError, NotFoundError) as exc:
        raise UsageError(str(exc)) from None


@magics_class
class DSPMagic(ResultsCommands, LifecycleCommands, Magics):
    """``%dsp``: compile, upload, share, run and watch Kubeflow pipelines."""

    default_experiment = Unicode(
        "Default", help="Experiment of runs started without --experiment."
    ).tag(config=True)
    wait_timeout = Float(
        6 * 3600.0, help="Seconds `%dsp run --wait` and `%dsp wait` wait at most."
    ).tag(config=True)
    poll_interval = Float(1.0, help="Seconds between polls of a running run.").tag(config=True)
    runs_limit = Int(20, help="How many runs `%dsp runs` lists by default.").tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self._client: DSPClient | None = None

    # ---- connection -----------------------------------------------------------------------

    @property
    def client(self) -> DSPClient:
        """The client, connected on first use with the same settings as the server."""
        if self._client is None:
            self.client = connect()
        assert self._client is not None
        self._client.default_experiment = self.default_experiment
        self._client.poll_interval = self.poll_interval
        return self._client

    @client.setter
    def client(self, value: DSPClient) -> None:
        self._client = value

    # ---- the magic -------------------------------------------------------------------------

    @line_magic
    def dsp(self, line: str = "") -> Any:
        args = parse(_PARSER, line)
        if args is None:
            return None
        handler: Callable[[argparse.Namespace], Any] = getattr(self, f"_cmd_{args.command}")
        with _usage_errors(), local_client_for(self, args):
            return handler(args)

    # ---- argument helpers -------------------------------------------------------------------

    def _lookup(self, text: str) -> Any:
        """The notebook variable ``text`` (dotted names allowed), or ``None``."""
        if not _DOTTED_NAME.match(text):
            return None
        ns = self.shell.user_ns if self.shell is not None else {}
        head, *rest = text.split(".")
        if head not in ns:
            return None
        obj = ns[head]
        for attr in rest:
            obj = getattr(obj, attr, None)
            if obj is None:
                return None
        return obj

    def _pipeline(self, text: str, *, allow_stack: bool = True) -> Any:
        """Resolve PIPELINE: notebook function/object, file path, or (as a string) a stack name."""
        obj = self._lookup(text)
        if obj is not None and (
            is_pipeline_function(obj)
            or isinstance(obj, Pipeline | PipelineVersion | CompiledPipeline)
        ):
            return obj
        path, _ = _split(text)
        if _is_file(text):
            if not os.path.isfile(os.path.expanduser(path)):
                raise UsageError(f"No such file: {path!r} (paths are relative to {os.getcwd()}).")
            return text
        if obj is not None and not allow_stack:
            raise UsageError(
                f"{text!r} is a {type(obj).__name__}, not a @dsl.pipeline function: "
                "decorate it with @dsl.pipeline or give a .py/.yaml file."
            )
        if not allow_stack:
            raise UsageError(
                f"{text!r} is neither a pipeline function of the notebook nor a .py/.yaml file."
            )
        return text

    @staticmethod
    def _on_image(target: Any, image: str | None) -> Any:
        """A notebook compiled on ``image`` (``--image``); any other target as it is."""
        return target if image is None else compile_source(target, image=image)

    def _run_id(self, text: str) -> str:
        obj = self._lookup(text)
        if isinstance(obj, Run):
            return obj.id
        if obj is not None and hasattr(obj, "run_id") and isinstance(obj.run_id, str):
            return obj.run_id
        return text

    # ---- sub-commands -------------------------------------------------------------------

    def _cmd_info(self, args: argparse.Namespace) -> Any:
        return self.client.info()

    def _cmd_connect(self, args: argparse.Namespace) -> Any:
        if args.endpoint:
            self.client = connect(
                args.endpoint,
                token_file=args.token_file,
                namespace=args.namespace,
                shared_endpoint=args.shared_endpoint,
                shared=not args.no_shared,
            )
        else:
            if args.token_file or args.shared_endpoint or args.no_shared:
                raise UsageError("--token-file/--shared-endpoint/--no-shared need --endpoint URL.")
            self.client = connect(namespace=args.namespace)
        return self.client.info()

    def _cmd_compile(self, args: argparse.Namespace) -> Any:
        target = self._pipeline(args.pipeline)
        if (
            args.image is not None
            or is_pipeline_function(target)
            or (isinstance(target, str) and _is_file(target))
        ):
            return compile_source(target, args.output, args.image)  # offline: no stack needed
        # a pipeline on the stack (name, id, or a Pipeline/PipelineVersion): save its spec
        compiled = self.client.fetch_spec(target)
        if args.output:
            compiled.write(args.output)
        return compiled

    def _cmd_upload(self, args: argparse.Namespace) -> Any:
        target = self._on_image(self._pipeline(args.pipeline, allow_stack=False), args.image)
        return self.client.upload(
            target,
            shared=args.shared,
            name=args.name,
            version=args.version,
            description=args.description,
        )

    def _cmd_list(self, args: argparse.Namespace) -> Any:
        return self.client.list_pipelines(args.space or "all")

    def _cmd_versions(self, args: argparse.Namespace) -> Any:
        return self.client.versions(args.name, args.space)

    def _cmd_fork(self, args: argparse.Namespace) -> Any:
        return self.client.fork(args.name, as_name=args.as_name, version=args.version)

    def _cmd_run(self, args: argparse.Namespace) -> Any:
        if args.timeout and not args.wait:
            raise UsageError("--timeout goes with --wait.")
        target = self._on_image(self._pipeline(args.pipeline), args.image)
        arguments = parse_assignments(args.params)
        options = {
            "experiment": args.experiment or self.default_experiment,
            "name": args.name,
            "space": args.space,
            "version": args.version,
        }
        if args.local:
            from jupyter_dsp.magics.local import cmd_run_local

            return cmd_run_local(self, args, target, arguments, options)
        run = self.client.run(target, arguments, **options)
        return self._follow(run, args)

    def _follow(self, run: Run, args: argparse.Namespace) -> Any:
        """A run just started, waited for (--wait) or watched (--watch) when asked."""
        if args.wait:
            return self._wait(run.id, args.timeout)
        if args.watch:
            return self._watch(run)
        return run

    def _cmd_runs(self, args: argparse.Namespace) -> Any:
        return self.client.runs(limit=args.limit or self.runs_limit, state=args.state)

    def _cmd_show(self, args: argparse.Namespace) -> Any:
        return self.client.get_run(self._run_id(args.run_id))

    def _cmd_wait(self, args: argparse.Namespace) -> Any:
        return self._wait(self._run_id(args.run_id), args.timeout)

    def _cmd_terminate(self, args: argparse.Namespace) -> Any:
        return self.client.terminate(self._run_id(args.run_id))

    def _cmd_retry(self, args: argparse.Namespace) -> Any:
        return self.client.retry(self._run_id(args.run_id))

    def _cmd_logs(self, args: argparse.Namespace) -> Any:
        if (args.log_bytes is not None and args.log_bytes <= 0) or (
            args.start is not None and args.start < 0
        ):
            raise UsageError("--bytes must be positive and --start 0 or more")
        return self.client.logs(
            self._run_id(args.run_id), args.task, tail=args.log_bytes, start=args.start
        )

    def _cmd_browse(self, args: argparse.Namespace) -> Any:
        from jupyter_dsp.widgets import PipelineBrowser

        return PipelineBrowser(self.client, poll_interval=self.poll_interval)

    # ---- watching ---------------------------------------------------------------------------

    def _watch(self, run: Run) -> Any:
        """A live monitor widget in a notebook front-end; state lines in a terminal."""
        if _has_widget_frontend(self.shell):
            from jupyter_dsp.widgets import RunMonitor

            return RunMonitor(self.client, run, poll_interval=self.poll_interval)
        last = ""

        def show(current: Run) -> None:
            nonlocal last
            done = sum(1 for t in current.tasks if t.done)
            line = f"{current.state} {done}/{len(current.tasks)} tasks"
            if line != last:
                print(f"[{duration(current.elapsed())}] {current.name}: {line}", file=sys.stdout)
                last = line

        return self._wait(run.id, None, on_update=show)

    def _wait(self, run_id: str, timeout: float | None, **options: Any) -> Run:
        """Wait for the run; Ctrl-C stops waiting (not the run) and returns its state."""
        try:
            return self.client.wait(run_id, timeout=timeout or self.wait_timeout, **options)
        except KeyboardInterrupt:
            print(
                f"Stopped waiting; the run goes on (`%dsp show {run_id}`, "
                f"`%dsp terminate {run_id}`).",
                file=sys.stderr,
            )
            return self.client.get_run(run_id)


def _is_file(text: str) -> bool:
    return _split(text)[0].lower().endswith(SOURCE_SUFFIXES)


def _has_widget_frontend(shell: Any) -> bool:
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


DSPMagic.dsp.__doc__ = full_help(_PARSER)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext jupyter_dsp``: register ``%dsp``; KFP's warning about the default base
    image (on every component cell) is hidden from then on, no other warning."""
    from jupyter_dsp.client.compiling import hide_base_image_warning

    hide_base_image_warning()
    ipython.register_magics(DSPMagic)
