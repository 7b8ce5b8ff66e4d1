"""A run's results as Python values: typed parameters, metrics as dicts, artifacts readable.

Built from the results document (see /tmp/team contract: ``pipeline_outputs`` and ``tasks`` with
``inputs``/``outputs``); artifact bytes come through an :class:`ArtifactSource` (the client),
only when asked. Every object renders itself (``_repr_mimebundle_`` / ``_ipython_display_``)
with :mod:`jupyter_dsp.client.render_results`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from jupyter_dsp.client import render_results
from jupyter_dsp.client.charts import scalar_metrics

PREVIEW_BYTES = 256 * 1024
Progress = Callable[[int, int | None], None]


class ArtifactSource(Protocol):
    """Where artifact bytes come from (the DSP client, through the stack or the proxy)."""

    def read_artifact(
        self, run_id: str, artifact_id: str, max_bytes: int | None = None
    ) -> bytes: ...

    def download_artifact(
        self, run_id: str, artifact_id: str, path: Path, progress: Progress | None = None
    ) -> Path: ...


@dataclass
class ArtifactOutput:
    """One artifact of a task: name, type (schema title), URI, metadata, size; bytes on demand."""

    artifact_id: str
    name: str
    type: str
    uri: str
    metadata: dict[str, Any]
    size: int | None
    run_id: str = ""
    task: str = ""
    source: ArtifactSource | None = field(default=None, repr=False, compare=False)
    _preview: bytes | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_doc(
        cls, doc: Mapping[str, Any], run_id: str, task: str, source: ArtifactSource | None
    ) -> ArtifactOutput:
        return cls(
            artifact_id=str(doc.get("artifact_id", "")),
            name=str(doc.get("name", "")),
            type=str(doc.get("type") or "system.Artifact"),
            uri=str(doc.get("uri") or ""),
            metadata=dict(doc.get("metadata") or {}),
            size=doc.get("size"),
            run_id=run_id,
            task=task,
            source=source,
        )

    @property
    def metrics(self) -> dict[str, float]:
        """Scalar metrics (``system.Metrics``); empty for other types."""
        return scalar_metrics(self.metadata) if self.type == "system.Metrics" else {}

    def _source(self) -> ArtifactSource:
        if self.source is None or not self.artifact_id:
            raise LookupError(f"artifact {self.name!r} has no readable content (URI {self.uri})")
        return self.source

    def read_bytes(self, max_bytes: int | None = None) -> bytes:
        """The artifact's content (the first ``max_bytes`` when given)."""
        return self._source().read_artifact(self.run_id, self.artifact_id, max_bytes)

    def preview_bytes(self) -> bytes:
        """The first 256 KiB, fetched once and kept (what the renderings show)."""
        if self._preview is None:
            self._preview = self.read_bytes(PREVIEW_BYTES)
        return self._preview

    def read_text(self, max_bytes: int | None = None) -> str:
        return self.read_bytes(max_bytes).decode("utf-8", errors="replace")

    def download(self, path: str | Path, progress: Progress | None = None) -> Path:
        """Stream the content to ``path`` (a directory gets the artifact's name)."""
        target = Path(path).expanduser()
        if target.is_dir():
            target = target / (Path(self.uri).name or self.name)
        return self._source().download_artifact(self.run_id, self.artifact_id, target, progress)

    def preview_text(self) -> str:
        """The first 256 KiB as text, without a last line cut in the middle."""
        text = self.preview_bytes().decode("utf-8", errors="replace")
        if self.size is None or self.size > PREVIEW_BYTES:
            text = text[: text.rfind("\n") + 1] or text
        return text

    def head_rows(self, limit: int = 10) -> tuple[list[str], list[list[str]]]:
        """Header and first rows of a CSV/TSV dataset, read with the ``csv`` module."""
        text = self.preview_text()
        dialect = "excel-tab" if "\t" in text.split("\n", 1)[0] else "excel"
        rows = list(csv.reader(io.StringIO(text), dialect=dialect))
        if not rows:
            return [], []
        return rows[0], rows[1 : limit + 1]

    def to_dataframe(self, **read_csv: Any) -> Any:
        """The whole dataset as a ``pandas.DataFrame`` (CSV, or Parquet/JSON by extension)."""
        try:
            import pandas as pd  # type: ignore[import-untyped,unused-ignore]
        except ImportError:
            raise ImportError(
                "pandas is not installed: `pip install pandas`, or use .head_rows()/.read_text()"
            ) from None
        data = io.BytesIO(self.read_bytes())
        suffix = Path(self.uri).suffix.lower()
        if suffix == ".parquet":
            return pd.read_parquet(data)
        if suffix in (".json", ".jsonl"):
            return pd.read_json(data, lines=suffix == ".jsonl")
        if suffix == ".tsv" and "sep" not in read_csv:
            read_csv["sep"] = "\t"
        return pd.read_csv(data, **read_csv)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return render_results.artifact_bundle(self)

    def _ipython_display_(self) -> None:
        render_results.display_bundles(render_results.artifact_bundles(self))


class Outputs(Mapping[str, Any]):
    """A task's inputs or outputs: ``o["name"]`` is a parameter value (typed), else the artifact
    (a list when several). ``o.parameters``, ``o.artifacts``, ``o.metrics``."""

    def __init__(
        self,
        doc: Mapping[str, Any] | None,
        run_id: str = "",
        task: str = "",
        source: ArtifactSource | None = None,
        title: str = "outputs",
    ) -> None:
        doc = doc or {}
        self.title = title
        self.task = task
        self.parameters: dict[str, Any] = dict(doc.get("parameters") or {})
        self.artifacts: dict[str, list[ArtifactOutput]] = {
            name: [ArtifactOutput.from_doc(a, run_id, task, source) for a in (items or [])]
            for name, items in (doc.get("artifacts") or {}).items()
        }

    def __getitem__(self, key: str) -> Any:
        if key in self.parameters:
            return self.parameters[key]
        if key in self.artifacts:
            items = self.artifacts[key]
            return items[0] if len(items) == 1 else items
        known = ", ".join(self) or "none"
        raise KeyError(
            f"{key!r} is not among the {self.title} of {self.task or 'the run'} ({known})"
        )

    def __iter__(self) -> Iterator[str]:
        yield from self.parameters
        yield from (k for k in self.artifacts if k not in self.parameters)

    def __len__(self) -> int:
        return len(set(self.parameters) | set(self.artifacts))

    def __repr__(self) -> str:
        return f"Outputs({self.title} of {self.task or 'run'}: {', '.join(self) or 'none'})"

    def all_artifacts(self) -> list[ArtifactOutput]:
        return [a for items in self.artifacts.values() for a in items]

    @property
    def metrics(self) -> dict[str, float]:
        """Scalar metrics of every ``system.Metrics`` artifact, merged (name -> number)."""
        merged: dict[str, float] = {}
        for artifact in self.all_artifacts():
            merged.update(artifact.metrics)
        return merged

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return render_results.outputs_bundle(self)

    def _ipython_display_(self) -> None:
        render_results.display_bundles(render_results.outputs_bundles(self))


@dataclass
class TaskResult:
    task_id: str
    name: str
    display_name: str
    state: str
    parent_task_id: str
    iteration_index: int | None
    cached: bool
    inputs: Outputs
    outputs: Outputs

    @property
    def label(self) -> str:
        """Display name, with the loop iteration when the task is one: ``score-fold[2]``."""
        name = self.display_name or self.name or self.task_id
        if self.iteration_index is None or name.endswith(f"#{self.iteration_index}"):
            return name  # the engine names a loop's iteration DAG "folds #2" already
        return f"{name}[{self.iteration_index}]"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return render_results.task_bundle(self)

    def _ipython_display_(self) -> None:
        render_results.display_bundles(render_results.task_bundles(self))


class RunResults(Mapping[str, Outputs]):
    """Every task's outputs of one run, keyed by task label (``results["train"]["Output"]``);
    ``.pipeline`` holds the run's own outputs, ``.tasks`` the full task records."""

    def __init__(
        self, doc: Mapping[str, Any], source: ArtifactSource | None = None, run_name: str = ""
    ) -> None:
        self.doc = doc
        self.run_id = str(doc.get("run_id", ""))
        self.run_name = run_name or self.run_id
        self.state = str(doc.get("state", ""))
        self.source = str(doc.get("source", ""))
        self.ui_url: str | None = doc.get("ui_url")
        self.unavailable: str | None = doc.get("unavailable")
        self.pipeline = Outputs(
            doc.get("pipeline_outputs"), self.run_id, "", source, "pipeline outputs"
        )
        self.tasks: list[TaskResult] = []
        for t in doc.get("tasks") or []:
            label = str(t.get("display_name") or t.get("name") or t.get("task_id"))
            self.tasks.append(
                TaskResult(
                    task_id=str(t.get("task_id", "")),
                    name=str(t.get("name", "")),
                    display_name=str(t.get("display_name", "")),
                    state=str(t.get("state", "")),
                    parent_task_id=str(t.get("parent_task_id") or ""),
                    iteration_index=t.get("iteration_index"),
                    cached=bool(t.get("cached")),
                    inputs=Outputs(t.get("inputs"), self.run_id, label, source, "inputs"),
                    outputs=Outputs(t.get("outputs"), self.run_id, label, source, "outputs"),
                )
            )

        # a loop's iterations in order, where the engine listed them as they ended
        first: dict[str, int] = {}
        for i, t in enumerate(self.tasks):
            first.setdefault(t.display_name or t.name, i)
        self.tasks.sort(key=lambda t: (first[t.display_name or t.name], t.iteration_index or 0))

    def task(self, key: str) -> TaskResult | None:
        """A task by id, label (``score-fold[1]``), display name or name."""
        for attr in ("task_id", "label", "display_name", "name"):
            for t in self.tasks:
                if getattr(t, attr) == key:
                    return t
        return None

    def __getitem__(self, key: str) -> Outputs:
        task = self.task(key)
        if task is None:
            names = ", ".join(t.label for t in self.tasks) or "none"
            raise KeyError(f"run {self.run_id} has no task {key!r} (tasks: {names})")
        return task.outputs

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(t.label for t in self.tasks))

    def __len__(self) -> int:
        return len(self.tasks)

    def __repr__(self) -> str:
        return f"RunResults({self.run_id}, {self.state}, {len(self.tasks)} tasks)"

    @property
    def metrics(self) -> dict[str, float]:
        """Every scalar metric of the run, ``task.metric`` -> number (loop tasks indexed)."""
        found: dict[str, float] = {}
        for t in self.tasks:
            for name, value in t.outputs.metrics.items():
                found[f"{t.label}.{name}"] = value
        for name, value in self.pipeline.metrics.items():
            found[name] = value
        return found

    def artifact(self, task: str, name: str) -> ArtifactOutput:
        """Output artifact ``name`` of ``task`` (``LookupError`` naming what exists)."""
        found = self.task(task)
        if found is None:
            raise LookupError(
                f"run {self.run_id} has no task {task!r} (tasks: {', '.join(self) or 'none'})"
            )
        items = found.outputs.artifacts.get(name) or []
        if not items:
            names = ", ".join(found.outputs.artifacts) or "none"
            raise LookupError(
                f"task {found.label!r} has no output artifact {name!r} (artifacts: {names})"
            )
        return items[0]

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return render_results.run_bundle(self)

    def _ipython_display_(self) -> None:
        render_results.display_bundles(render_results.run_bundles(self))


# ---- loading --------------------------------------------------------------------------------


def load_results(client: Any, run_id: str, run_name: str = "") -> RunResults:
    """The results of ``run_id`` read through ``client`` (a DSPClient: its ``results`` document
    and, on demand, ``read_artifact`` / ``download_artifact``)."""
    return RunResults(client.results(run_id), client, run_name)
