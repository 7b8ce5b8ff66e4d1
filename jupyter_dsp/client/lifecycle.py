"""The rest of a pipeline's life from Python: schedules (KFP recurring runs), experiments,
run again with changes, and deletes. Built on :class:`~jupyter_dsp.client.run_logs.LogOperations`
(and the run and pipeline operations below it); :class:`jupyter_dsp.client.DSPClient` is this layer.

Everything lives in the project namespace; deletes in the shared space follow the shared-space
policy (``read-only``: refused before anything is sent).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from jupyter_dsp.client.compiling import from_spec_dict
from jupyter_dsp.client.errors import ArgumentError, DSPError, NotFoundError, api_errors
from jupyter_dsp.client.lifecycle_models import Deleted, Experiment, LifecycleList, Schedule
from jupyter_dsp.client.models import PipelineVersion
from jupyter_dsp.client.params import check_arguments, root_parameters
from jupyter_dsp.client.pipelines import PAGE_SIZE, name_filter
from jupyter_dsp.client.run_logs import LogOperations
from jupyter_dsp.client.run_models import Run
from jupyter_dsp.client.spaces import PROJECT
from jupyter_dsp.stack.naming import schedule_name
from jupyter_dsp.stack.recurring_trigger import TriggerError, five_to_six, normalize_cron

_EVERY = re.compile(r"(\d+)\s*([dhms])", re.IGNORECASE)
_UNIT = {"d": 86400, "h": 3600, "m": 60, "s": 1}
ID_LIKE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def parse_every(text: str) -> int:
    """``"1h"``, ``"30m"``, ``"1h30m"``, ``"2d"``, ``"45s"`` or a number of seconds."""
    raw = text.strip()
    if raw.isdigit():
        seconds = int(raw)
    else:
        parts = _EVERY.findall(raw)
        if not parts or _EVERY.sub("", raw).strip():
            raise ArgumentError(
                f"--every {text!r} is not a duration: use e.g. 30s, 15m, 1h, 1h30m or 2d."
            )
        seconds = sum(int(n) * _UNIT[u.lower()] for n, u in parts)
    if seconds < 1:
        raise ArgumentError("--every must be at least 1 second.")
    return seconds


def kfp_cron(text: str) -> str:
    """A cron expression in KFP's 6-field form (a standard 5-field one gets second 0)."""
    fields = text.split()
    six = five_to_six(text) if len(fields) == 5 else text
    try:
        return normalize_cron(six)
    except TriggerError as exc:
        raise ArgumentError(
            f"--cron {text!r} cannot be used: {exc}. Give 5 fields (minute hour day month"
            " weekday, UTC, e.g. '0 6 * * *') or KFP's 6 (second first)."
        ) from None


class LifecycleOperations(LogOperations):
    """Schedules, experiments, rerun and deletes over the project space of a DSPClient."""

    # ---- helpers ------------------------------------------------------------------------

    def _raw_json(self, call: Any, action: str, **kwargs: Any) -> dict[str, Any]:
        """A call's JSON as the stack sent it (keeps fields the generated models drop)."""
        with api_errors(action, self._where(PROJECT)):
            response = call(_preload_content=False, **kwargs)
        try:
            data = json.loads(response.data or b"{}")
        except ValueError:
            raise DSPError(f"{action}: the stack answered something that is not JSON.") from None
        return data if isinstance(data, dict) else {}

    @property
    def _recurring(self) -> Any:
        return self.kfp.recurring_runs

    # ---- schedules ----------------------------------------------------------------------

    def schedule(
        self,
        target: Any,
        arguments: Mapping[str, Any] | None = None,
        *,
        cron: str | None = None,
        every: str | int | None = None,
        name: str | None = None,
        experiment: str | None = None,
        space: str | None = None,
        version: str | None = None,
        latest: bool = False,
        max_concurrency: int = 1,
        catchup: bool = True,
        start: str | None = None,
        end: str | None = None,
        enabled: bool = True,
    ) -> Schedule:
        """Run ``target`` on a schedule in the project namespace: ``cron`` (5 fields, or KFP's
        6 with seconds first; UTC) or ``every`` (``"1h"``, seconds...). The version is pinned
        (the newest, or ``version``) unless ``latest`` (the newest at each firing)."""
        if bool(cron) == bool(every):
            raise ArgumentError("Give exactly one of --cron '0 6 * * *' or --every 1h.")
        if not 1 <= max_concurrency <= 10:
            raise ArgumentError("--max-concurrency must be between 1 and 10.")
        models = self.kfp.api_models
        title, spec, picked = self.resolve_target(target, space=space, version=version)
        if latest and picked is None:
            raise ArgumentError("--latest needs a pipeline uploaded to the stack, not a file.")
        stored = picked.spec if picked else None
        declared = root_parameters(spec if spec is not None else stored or {})
        values = check_arguments(declared, arguments)
        window = {"start_time": start, "end_time": end}
        seconds = 0
        if cron:
            trigger = models.V2beta1Trigger(
                cron_schedule=models.V2beta1CronSchedule(cron=kfp_cron(cron), **window)
            )
        else:
            seconds = every if isinstance(every, int) else parse_every(str(every))
            trigger = models.V2beta1Trigger(
                periodic_schedule=models.V2beta1PeriodicSchedule(
                    interval_second=str(seconds), **window
                )
            )
        body = models.V2beta1RecurringRun(
            display_name=name or schedule_name(title, kfp_cron(cron) if cron else "", seconds),
            experiment_id=self.experiment_id(experiment),
            runtime_config=models.V2beta1RuntimeConfig(parameters=values),
            trigger=trigger,
            max_concurrency=str(max_concurrency),
            no_catchup=not catchup,
            mode="ENABLE" if enabled else "DISABLE",
        )
        if picked is not None:
            body.pipeline_version_reference = models.V2beta1PipelineVersionReference(
                pipeline_id=picked.pipeline_id,
                pipeline_version_id=None if latest else picked.id,
            )
        else:
            body.pipeline_spec = spec
        data = self._raw_json(
            self._recurring.recurring_run_service_create_recurring_run,
            f"Scheduling {title!r}",
            recurring_run=body,
        )
        return Schedule.from_api(data)

    def schedules(self, limit: int = 200) -> LifecycleList:
        """The project's schedules, newest first."""
        kwargs: dict[str, Any] = {"page_size": min(limit, 200), "sort_by": "created_at desc"}
        if self._ns(PROJECT):
            kwargs["namespace"] = self._ns(PROJECT)
        data = self._raw_json(
            self._recurring.recurring_run_service_list_recurring_runs,
            "Listing schedules",
            **kwargs,
        )
        items = [Schedule.from_api(x) for x in data.get("recurringRuns") or []]
        return LifecycleList(items, f"Schedules in {self.namespace or 'the project'}")

    def get_schedule(self, name_or_id: str) -> Schedule:
        """A schedule by id, or by name (which must be unique)."""
        if ID_LIKE.match(name_or_id):
            try:
                data = self._raw_json(
                    self._recurring.recurring_run_service_get_recurring_run,
                    "Reading the schedule",
                    recurring_run_id=name_or_id,
                )
                return Schedule.from_api(data)
            except NotFoundError:
                pass
        found = [s for s in self.schedules() if name_or_id in (s.name, s.id)]
        if not found:
            raise NotFoundError(
                f"No schedule named {name_or_id!r} in the project.",
                status=404,
                hint="`%dsp schedules` lists them.",
            )
        if len(found) > 1:
            ids = ", ".join(s.id for s in found)
            raise ArgumentError(
                f"{len(found)} schedules are named {name_or_id!r}: give an id ({ids})."
            )
        return found[0]

    def unschedule(self, name_or_id: str) -> Schedule:
        """Delete a schedule (the runs it made stay); returns what was deleted."""
        found = self.get_schedule(name_or_id)
        with api_errors("Deleting the schedule", self._where(PROJECT)):
            self._recurring.recurring_run_service_delete_recurring_run(recurring_run_id=found.id)
        found.status = "DELETED"
        return found

    def enable_schedule(self, name_or_id: str, enabled: bool = True) -> Schedule:
        found = self.get_schedule(name_or_id)
        api = self._recurring
        call = (
            api.recurring_run_service_enable_recurring_run
            if enabled
            else api.recurring_run_service_disable_recurring_run
        )
        action = "Enabling the schedule" if enabled else "Disabling the schedule"
        with api_errors(action, self._where(PROJECT)):
            call(recurring_run_id=found.id)
        return self.get_schedule(found.id)

    def disable_schedule(self, name_or_id: str) -> Schedule:
        return self.enable_schedule(name_or_id, enabled=False)

    # ---- experiments --------------------------------------------------------------------

    def experiments(self, archived: bool = False) -> LifecycleList:
        """The project's experiments (archived ones too with ``archived=True``)."""
        kwargs: dict[str, Any] = {"page_size": PAGE_SIZE, "sort_by": "created_at desc"}
        if self._ns(PROJECT):
            kwargs["namespace"] = self._ns(PROJECT)
        items: list[Experiment] = []
        api = self.kfp.experiments
        token = ""
        while True:
            with api_errors("Listing experiments", self._where(PROJECT)):
                page = api.experiment_service_list_experiments(page_token=token, **kwargs)
            items += [Experiment.from_api(e) for e in page.experiments or []]
            token = page.next_page_token or ""
            if not token or len(items) >= 1000:
                break
        if not archived:
            items = [e for e in items if not e.archived]
        return LifecycleList(items, f"Experiments in {self.namespace or 'the project'}")

    def get_experiment(self, name_or_id: str) -> Experiment:
        for exp in self.experiments(archived=True):
            if name_or_id in (exp.name, exp.id):
                return exp
        raise NotFoundError(
            f"No experiment named {name_or_id!r} in the project.",
            status=404,
            hint="`%dsp experiments --all` lists them.",
        )

    def archive_experiment(self, name_or_id: str, archived: bool = True) -> Experiment:
        exp = self.get_experiment(name_or_id)
        api = self.kfp.experiments
        call = (
            api.experiment_service_archive_experiment
            if archived
            else api.experiment_service_unarchive_experiment
        )
        with api_errors("Archiving" if archived else "Restoring", self._where(PROJECT)):
            call(experiment_id=exp.id)
        exp.storage_state = "ARCHIVED" if archived else "AVAILABLE"
        return exp

    def restore_experiment(self, name_or_id: str) -> Experiment:
        return self.archive_experiment(name_or_id, archived=False)

    # ---- run again ----------------------------------------------------------------------

    def rerun(
        self,
        run: str | Run,
        changes: Mapping[str, Any] | None = None,
        *,
        name: str | None = None,
        experiment: str | None = None,
        wait: bool = False,
    ) -> Run:
        """Run again: the same pipeline version (or inline spec) and parameters as ``run``,
        with ``changes`` applied, in the same experiment unless told."""
        original = run if isinstance(run, Run) else self.get_run(run)
        target, arguments, same_experiment = self.rerun_target(original)
        arguments = {**arguments, **dict(changes or {})}
        experiment = experiment if experiment is not None else same_experiment
        return self.run(
            target,
            arguments,
            experiment=experiment,
            name=name or f"Rerun of {original.name}",
            wait=wait,
        )

    def rerun_target(self, run: Run) -> tuple[Any, dict[str, Any], str | None]:
        """What running ``run`` again takes: (its pipeline version, or its inline spec as a
        compiled pipeline; its parameters; its experiment's name). Used by ``rerun`` and by
        the RunMonitor's "Run again" form."""
        target: Any
        if run.pipeline_id and run.version_id:
            with api_errors("Reading the run's pipeline version", self._where(PROJECT)):
                raw = self.kfp.pipelines.pipeline_service_get_pipeline_version(
                    pipeline_id=run.pipeline_id, pipeline_version_id=run.version_id
                )
            target = PipelineVersion.from_api(raw, PROJECT)
        elif run.spec:
            target = from_spec_dict(run.spec, run.name)
        else:
            raise NotFoundError(f"Run {run.id} has no pipeline to run again.", status=404)
        experiment = None
        if run.experiment_id:
            with api_errors("Reading the run's experiment", self._where(PROJECT)):
                exp = self.kfp.experiments.experiment_service_get_experiment(
                    experiment_id=run.experiment_id
                )
            experiment = exp.display_name
        return target, dict(run.parameters), experiment

    # ---- deletes ------------------------------------------------------------------------

    def _may_delete(self, pipeline: Any) -> None:
        """Deleting in the shared space follows the shared-space policy (refused up front)."""
        if not self.space(pipeline.space).writable:
            raise DSPError(
                f"Pipeline {pipeline.name!r} is in the shared space, which is read-only here"
                f" (policy {self.policy}): it cannot be deleted from this notebook.",
                status=403,
                hint="Ask whoever administers the shared catalog.",
            )

    def find_run(self, name_or_id: str) -> Run:
        """A project run by id, or by name (which must be unique)."""
        try:
            return self.get_run(name_or_id)
        except DSPError as exc:
            if exc.status not in (400, 404):
                raise
        kwargs: dict[str, Any] = {"filter": name_filter(name_or_id), "page_size": PAGE_SIZE}
        if self._ns(PROJECT):
            kwargs["namespace"] = self._ns(PROJECT)
        with api_errors("Finding the run", self._where(PROJECT)):
            found = self.kfp.runs.run_service_list_runs(**kwargs).runs or []
        found = [r for r in found if r.display_name == name_or_id]
        if not found:
            raise NotFoundError(
                f"No run named {name_or_id!r} in the project.", status=404, hint="`%dsp runs`."
            )
        if len(found) > 1:
            ids = ", ".join(r.run_id for r in found)
            raise ArgumentError(f"{len(found)} runs are named {name_or_id!r}: give an id ({ids}).")
        return Run.from_api(found[0])

    def delete_run(self, name_or_id: str | Run) -> Deleted:
        run = name_or_id if isinstance(name_or_id, Run) else self.find_run(name_or_id)
        with api_errors("Deleting the run", self._where(PROJECT)):
            self.kfp.runs.run_service_delete_run(run_id=run.id)
        return Deleted("run", run.id, run.name)

    def delete_version(self, pipeline: str, version: str, space: str | None = None) -> Deleted:
        """Delete one version of a pipeline (the pipeline and its other versions stay)."""
        found = self.find_pipeline(pipeline, space)
        picked = self._pick_version(found, version)
        self._may_delete(found)
        api = self.kfp_client(found.space).pipelines
        with api_errors("Deleting the version", self._where(found.space)):
            api.pipeline_service_delete_pipeline_version(
                pipeline_id=found.id, pipeline_version_id=picked.id
            )
        return Deleted("version", picked.id, f"{found.name} {picked.name}", found.space)

    def remove_pipeline(self, name_or_id: str, space: str | None = None) -> Deleted:
        """Delete a pipeline with all its versions; returns what was removed."""
        found = self.find_pipeline(name_or_id, space)
        self._may_delete(found)
        self.delete_pipeline(found.id, found.space)
        return Deleted(
            "pipeline", found.id, found.name, found.space, [v.id for v in found.versions]
        )

    def diff(
        self, pipeline: str, v1: str | None = None, v2: str | None = None, space: str | None = None
    ) -> Any:
        """What changed between two versions (default: the two newest); see client/diff.py."""
        from jupyter_dsp.client.diff import version_diff

        return version_diff(self, pipeline, v1, v2, space)
