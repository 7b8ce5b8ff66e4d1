"""A run's artifacts and their links to tasks, in the shape of KFP's v2beta1 artifact API.

Plain functions over the engine's :class:`RunSnapshot` (no HTTP, no authorization):

- :func:`catalog` lists the run's artifacts (one per output of an executor task, plus inputs
  that no task of the run produced, such as imported ones) and the ``ArtifactTask`` links
  (``OUTPUT`` / ``ITERATOR_OUTPUT`` for the producer, ``TASK_OUTPUT_INPUT`` /
  ``COMPONENT_INPUT`` for consumers, matched by URI), as in
  ``backend/api/v2beta1/artifact.proto`` on KFP master.
- :func:`task_details` gives each task in the shape master's ``PipelineTaskDetail`` is moving
  to: ``name``, ``type`` (``RUNTIME``, ``DAG``, ``LOOP``, ``LOOP_ITERATION``, ...),
  ``type_attributes.iteration_index`` and ``inputs`` / ``outputs`` with ``parameters`` and
  ``artifacts``.

Artifact ids are stable: ``<run_id>~<16 hex digits>`` derived from the producing task, the
output name and the position, so the same artifact has the same id on every read, across
restarts, without a table; the run id in front lets a read by id find (and authorize) its
run at once. Sizes are measured when read (``null`` when the artifact has no file, such as
a ``system.Metrics``, whose content is its metadata).

Two documented extra fields on ``Artifact`` (clients generated from the swagger ignore
them): ``schema_title`` (``system.Dataset`` ...; ``type`` is master's coarser enum) and
``size`` (bytes).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_dsp.stack.runner import nofollow
from jupyter_dsp.stack.runner.api_json import rfc3339_us
from jupyter_dsp.stack.runner.model import RunSnapshot, TaskRecord

ID_SEPARATOR = "~"
_ITERATION_NAME = re.compile(r"iteration-(\d+)$")
MAX_DIR_ENTRIES = 10_000  # a directory artifact with more files is not measured

# schema title -> master's Artifact.ArtifactType name
ARTIFACT_TYPES = {
    "system.Artifact": "Artifact",
    "system.Model": "Model",
    "system.Dataset": "Dataset",
    "system.HTML": "HTML",
    "system.Markdown": "Markdown",
    "system.Metrics": "Metric",
    "system.ClassificationMetrics": "ClassificationMetric",
    "system.SlicedClassificationMetrics": "SlicedClassificationMetric",
}
TASK_TYPES = {"executor": "RUNTIME", "dag": "DAG", "loop": "LOOP"}
IO_TYPES = frozenset(
    {
        "OUTPUT",
        "ITERATOR_OUTPUT",
        "TASK_OUTPUT_INPUT",
        "COMPONENT_INPUT",
    }
)


def artifact_id(run_id: str, task_id: str, key: str, index: int) -> str:
    digest = hashlib.sha256(f"{task_id}\0{key}\0{index}".encode()).hexdigest()[:16]
    return f"{run_id}{ID_SEPARATOR}{digest}"


def run_of(artifact_id_: str) -> str:
    """The run id an artifact id starts with ("" when it is not one of ours)."""
    run_id, sep, rest = artifact_id_.partition(ID_SEPARATOR)
    return run_id if sep and run_id and len(rest) == 16 else ""


def local_path(uri: str) -> Path:
    return Path(uri.removeprefix("file://"))


def contained_path(uri: str, run_dir: Path) -> Path | None:
    """The artifact's file or directory if it exists inside ``run_dir``, reached without
    following any link below it (a step's output swapped for a link is not served), else
    None. The path is the lexical one: reads open it without following links again."""
    text = str(local_path(uri))
    try:
        nofollow.split_absolute(text)
        os.close(nofollow.open_any(text, base=run_dir)[0])
    except OSError:
        return None
    return Path(os.path.normpath(text))


def measure(path: Path | None) -> int | None:
    """Bytes of a file, or of the files of a directory (None: absent or too many files).
    Nothing is followed: links count for nothing."""
    if path is None:
        return None
    try:
        fd, is_dir = nofollow.open_any(str(path))
    except OSError:
        return None
    with nofollow.closing_fd(fd):
        if not is_dir:
            return os.fstat(fd).st_size
        return _tree_bytes(fd, [0])


def _tree_bytes(dir_fd: int, count: list[int]) -> int | None:
    total = 0
    with os.scandir(dir_fd) as entries:
        names = [e.name for e in entries]
    for name in names:
        count[0] += 1
        if count[0] > MAX_DIR_ENTRIES:
            return None
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        if stat.S_ISREG(st.st_mode):
            total += st.st_size
        elif stat.S_ISDIR(st.st_mode):
            try:
                sub = os.open(name, nofollow.DIR_FLAGS, dir_fd=dir_fd)
            except OSError:
                continue
            with nofollow.closing_fd(sub):
                inner = _tree_bytes(sub, count)
            if inner is None:
                return None
            total += inner
    return total


@dataclass
class Link:
    """An ``ArtifactTask``: how one artifact relates to one task."""

    artifact_id: str
    task_id: str
    io_type: str
    key: str
    producer_task: str
    producer_iteration: int | None

    def to_json(self, run_id: str) -> dict[str, Any]:
        producer: dict[str, Any] = {"task_name": self.producer_task}
        if self.producer_iteration is not None:
            producer["iteration"] = str(self.producer_iteration)  # int64 as protojson writes
        link_id = hashlib.sha256(
            f"{self.artifact_id}\0{self.task_id}\0{self.io_type}\0{self.key}".encode()
        ).hexdigest()[:24]
        return {
            "id": link_id,
            "artifact_id": self.artifact_id,
            "run_id": run_id,
            "task_id": self.task_id,
            "type": self.io_type,
            "producer": producer,
            "key": self.key,
        }


@dataclass
class Entry:
    """One artifact of the run (as the engine recorded it)."""

    artifact_id: str
    name: str
    schema_title: str
    uri: str
    metadata: dict[str, Any]
    created_us: int


@dataclass
class Catalog:
    run_id: str
    namespace: str
    run_dir: Path
    artifacts: list[Entry] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    by_id: dict[str, Entry] = field(default_factory=dict)
    made: dict[str, dict[str, Any]] = field(default_factory=dict)

    def path_of(self, entry: Entry) -> Path | None:
        return contained_path(entry.uri, self.run_dir)

    def artifact_json(self, entry: Entry) -> dict[str, Any]:
        """The ``Artifact`` (made once per catalog: an artifact linked to many tasks)."""
        made = self.made.get(entry.artifact_id)
        if made is None:
            made = self.made[entry.artifact_id] = self._artifact_json(entry)
        return made

    def _artifact_json(self, entry: Entry) -> dict[str, Any]:
        data: dict[str, Any] = {
            "artifact_id": entry.artifact_id,
            "name": entry.name,
            "type": ARTIFACT_TYPES.get(entry.schema_title, "TYPE_UNSPECIFIED"),
            "uri": entry.uri,
            "metadata": entry.metadata,
            "namespace": self.namespace,
            "schema_title": entry.schema_title,
            "size": measure(self.path_of(entry)),
        }
        if entry.created_us:
            data["created_at"] = rfc3339_us(entry.created_us)
        return data


def iteration_indexes(snap: RunSnapshot) -> dict[str, int]:
    """task id -> index of the loop iteration it is (or runs inside; innermost loop wins)."""
    own: dict[str, int] = {}
    for task in snap.tasks.values():
        if task.kind == "loop":
            for position, child in enumerate(task.child_task_ids):
                own[child] = position  # last resort: the order the iterations started in
    for task in snap.tasks.values():
        recorded = getattr(task, "iteration_index", None)  # the engine's own record
        if isinstance(recorded, int):
            own[task.task_id] = recorded
            continue
        named = _ITERATION_NAME.search(task.name) or _ITERATION_NAME.search(task.task_id)
        if task.task_id in own and named:
            own[task.task_id] = int(named.group(1))
    result: dict[str, int] = {}
    for task_id in snap.tasks:
        current: str = task_id
        seen: set[str] = set()
        while current and current not in seen:
            seen.add(current)
            if current in own:
                result[task_id] = own[current]
                break
            parent = snap.tasks.get(current)
            current = parent.parent_task_id if parent is not None else ""
    return result


def _entry(entry_id: str, key: str, item: dict[str, Any], created_us: int) -> Entry:
    """The catalog entry of one artifact the engine recorded under ``key``."""
    return Entry(
        entry_id,
        str(item.get("name") or key),
        str(item.get("schema_title") or "system.Artifact"),
        str(item.get("uri") or ""),
        dict(item.get("metadata") or {}),
        created_us,
    )


def _ordered(snap: RunSnapshot) -> list[TaskRecord]:
    """Executors first (they produce), then the rest, each by creation."""
    return sorted(
        snap.tasks.values(), key=lambda t: (t.kind != "executor", t.create_time, t.task_id)
    )


def catalog(run_id: str, namespace: str, snap: RunSnapshot, run_dir: Path) -> Catalog:
    """Every artifact of the run and every artifact-task link."""
    result = Catalog(run_id, namespace, run_dir)
    iterations = iteration_indexes(snap)
    by_uri: dict[str, tuple[Entry, TaskRecord]] = {}

    def add(entry: Entry) -> None:
        result.artifacts.append(entry)
        result.by_id[entry.artifact_id] = entry

    for task in _ordered(snap):
        iteration = iterations.get(task.task_id)
        for key, items in sorted(task.output_artifacts.items()):
            for index, item in enumerate(items):
                uri = str(item.get("uri") or "")
                known = by_uri.get(uri) if uri else None
                if known is None:
                    entry = _entry(
                        artifact_id(run_id, task.task_id, key, index),
                        key,
                        item,
                        task.end_time or task.create_time,
                    )
                    add(entry)
                    if uri:
                        by_uri[uri] = (entry, task)
                    producer_task = task
                else:
                    entry, producer_task = known
                io_type = "ITERATOR_OUTPUT" if iteration is not None else "OUTPUT"
                result.links.append(
                    Link(
                        entry.artifact_id,
                        task.task_id,
                        io_type,
                        key,
                        producer_task.name,
                        iterations.get(producer_task.task_id),
                    )
                )
    for task in _ordered(snap):
        for key, items in sorted(task.input_artifacts.items()):
            for index, item in enumerate(items):
                uri = str(item.get("uri") or "")
                known = by_uri.get(uri) if uri else None
                if known is not None:
                    entry, producer = known
                    io_type, producer_name = "TASK_OUTPUT_INPUT", producer.name
                    producer_iteration = iterations.get(producer.task_id)
                else:
                    entry = _entry(
                        artifact_id(run_id, task.task_id, "input:" + key, index),
                        key,
                        item,
                        task.start_time or task.create_time,
                    )
                    add(entry)
                    if uri:
                        by_uri[uri] = (entry, task)
                    io_type, producer_name, producer_iteration = "COMPONENT_INPUT", "", None
                result.links.append(
                    Link(
                        entry.artifact_id,
                        task.task_id,
                        io_type,
                        key,
                        producer_name,
                        producer_iteration,
                    )
                )
    return result


def ordered_tasks(snap: RunSnapshot) -> list[TaskRecord]:
    """The run's tasks in the order the tasks API lists them (creation, then id)."""
    return sorted(snap.tasks.values(), key=lambda t: (t.create_time, t.task_id))


def task_details(
    snap: RunSnapshot, cat: Catalog, tasks: list[TaskRecord] | None = None
) -> list[dict[str, Any]]:
    """Each task (or those of ``tasks``) in master's ``PipelineTaskDetail`` shape, artifacts
    inlined."""
    iterations = iteration_indexes(snap)
    loop_children = {
        child for t in snap.tasks.values() if t.kind == "loop" for child in t.child_task_ids
    }
    by_task: dict[str, list[Link]] = {}
    for link in cat.links:
        by_task.setdefault(link.task_id, []).append(link)
    details = []
    for task in ordered_tasks(snap) if tasks is None else tasks:
        kind = (
            "LOOP_ITERATION"
            if task.task_id in loop_children
            else TASK_TYPES.get(task.kind, "RUNTIME")
        )
        attributes: dict[str, Any] = {}
        if task.task_id in iterations:
            attributes["iteration_index"] = str(iterations[task.task_id])
        if task.kind == "loop":
            attributes["iteration_count"] = str(len(task.child_task_ids))
        inputs: dict[str, Any] = {"parameters": _parameters(task.inputs), "artifacts": []}
        outputs: dict[str, Any] = {"parameters": _parameters(task.outputs), "artifacts": []}
        for link in by_task.get(task.task_id, []):
            side = outputs if link.io_type in ("OUTPUT", "ITERATOR_OUTPUT") else inputs
            producer: dict[str, Any] = {"task_name": link.producer_task}
            if link.producer_iteration is not None:
                producer["iteration"] = str(link.producer_iteration)
            side["artifacts"].append(
                {
                    "artifact_key": link.key,
                    "type": link.io_type,
                    "producer": producer,
                    "artifacts": [cat.artifact_json(cat.by_id[link.artifact_id])],
                }
            )
        details.append(
            {
                "run_id": cat.run_id,
                "task_id": task.task_id,
                "name": task.name,
                "display_name": task.display_name,
                "state": task.state,
                "type": kind,
                "type_attributes": attributes,
                "parent_task_id": task.parent_task_id,
                "inputs": inputs,
                "outputs": outputs,
            }
        )
    return details


def _parameters(values: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"parameter_key": k, "value": v} for k, v in sorted(values.items())]
