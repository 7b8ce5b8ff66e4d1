"""``%dsp outputs``, ``%dsp download`` and ``%dsp compare``: a run's results in the notebook.

Mixed into :class:`~jupyter_dsp.magics.dsp_magic.DSPMagic` (which gives ``client``, ``shell`` and
``_run_id``); :func:`add_parsers` adds the sub-commands to the ``%dsp`` parser.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError

from jupyter_dsp.client.comparison import Comparison
from jupyter_dsp.client.outputs import ArtifactOutput, Outputs, RunResults, load_results
from jupyter_dsp.client.render_results import human_size

_RUN_HELP = "run id, or a variable holding a run"


def add_parsers(add: Callable[[str, str], argparse.ArgumentParser]) -> None:
    p = add(
        "outputs",
        "Show a run's results: output values, metrics, charts, reports, dataset rows. "
        "Returns them (results['TASK']['NAME'] is a value or an artifact).",
    )
    p.add_argument("run_id", metavar="RUN_ID", help=_RUN_HELP)
    p.add_argument("task", metavar="TASK", nargs="?", help="only this task (name or id)")

    p = add("download", "Download an output artifact of a task to a file (progress shown).")
    p.add_argument("run_id", metavar="RUN_ID", help=_RUN_HELP)
    p.add_argument("task", metavar="TASK", help="task name or id, e.g. train or score-fold[2]")
    p.add_argument("artifact", metavar="ARTIFACT", help="output artifact name, e.g. model")
    p.add_argument(
        "-o", "--output", metavar="PATH", help="file or directory (default: ./ARTIFACT name)"
    )

    p = add("compare", "Compare runs: parameters, outputs and metrics side by side, with charts.")
    p.add_argument("run_ids", metavar="RUN_ID", nargs="+", help="two or more runs")


class ResultsCommands:
    """The sub-commands; ``self`` is the DSPMagic instance."""

    client: Any
    shell: Any
    _run_id: Callable[[str], str]

    def _results(self, run_text: str) -> tuple[Any, RunResults]:
        run = self.client.get_run(self._run_id(run_text))
        return run, load_results(self.client, run.id, run_name=run.name)

    def _cmd_outputs(self, args: argparse.Namespace) -> RunResults | Outputs:
        _, results = self._results(args.run_id)
        if args.task is None:
            return results
        task = results.task(args.task)
        if task is None:
            names = ", ".join(results) or "none yet"
            raise UsageError(
                f"Run {results.run_id} has no task {args.task!r}; its tasks: {names}. "
                f"(`%dsp outputs {args.run_id}` shows them all.)"
            )
        return task.outputs

    def _cmd_download(self, args: argparse.Namespace) -> Path:
        _, results = self._results(args.run_id)
        try:
            artifact = results.artifact(args.task, args.artifact)
        except LookupError as exc:
            raise UsageError(f"{exc}. (`%dsp outputs {args.run_id}` lists them.)") from None
        target = _target(artifact, args.output)
        progress = _Progress(artifact)
        path = artifact.download(target, progress)
        progress.done(path)
        return path

    def _cmd_compare(self, args: argparse.Namespace) -> Comparison:
        ids = list(dict.fromkeys(args.run_ids))
        if len(ids) < 2:
            raise UsageError(
                "Give two or more different runs: `%dsp compare RUN_ID RUN_ID ...` "
                "(`%dsp runs` lists them)."
            )
        return Comparison.from_results([self._results(text) for text in ids])


def _target(artifact: ArtifactOutput, output: str | None) -> Path:
    default = Path(artifact.uri).name or artifact.name
    if not output:
        return Path.cwd() / default
    path = Path(output).expanduser()
    if path.is_dir() or output.endswith(os.sep):
        path.mkdir(parents=True, exist_ok=True)
        return path / default
    if not path.parent.exists():
        raise UsageError(f"No such directory: {str(path.parent)!r} (create it, or choose -o PATH).")
    return path


class _Progress:
    """Bytes received of the total, shown in one display that updates (twice a second)."""

    def __init__(self, artifact: ArtifactOutput) -> None:
        from IPython.display import display

        self.artifact = artifact
        self.last = 0.0
        self.handle = display(self._text(0, artifact.size), display_id=True)

    def _text(self, done: int, total: int | None) -> _Text:
        share = f" ({100 * done / total:.0f}%)" if total else ""
        text = f"downloading {self.artifact.name}: {human_size(done)} of {human_size(total)}{share}"
        return _Text(text)

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if self.handle is not None and (now - self.last > 0.5 or (total and done >= total)):
            self.last = now
            self.handle.update(self._text(done, total))

    def done(self, path: Path) -> None:
        if self.handle is not None:
            size = human_size(path.stat().st_size) if path.exists() else "?"
            self.handle.update(_Text(f"downloaded {self.artifact.name} ({size}) to {path}"))


class _Text:
    """A line of text for the progress display (plain text in every front-end)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text
