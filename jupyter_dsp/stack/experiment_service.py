"""Experiments as the KFP API serves them (namespaces, authorization, validation).

Experiments always live in a namespace in multi-user mode; a request without one means the
stack's default namespace (KFP would refuse it; the embedded stack is forgiving so that a
plain ``kfp.Client().create_experiment(name)`` works). In single-user mode the namespace is
ignored and stored as ``""``.
"""

from __future__ import annotations

from typing import Any

from jupyter_dsp.stack.auth import Access, Principal
from jupyter_dsp.stack.errors import ApiError, failed_precondition, invalid_argument
from jupyter_dsp.stack.experiments_store import EXPERIMENTS, ExperimentStore
from jupyter_dsp.stack.listing import ListParams
from jupyter_dsp.stack.serialize import experiment_json

MAX_NAME_LENGTH = 128
DEFAULT_EXPERIMENT = "Default"


class ExperimentService:
    def __init__(self, store: ExperimentStore, access: Access) -> None:
        self.store = store
        self.access = access

    def namespace(self, raw: str | None) -> str:
        if not self.access.multi_user:
            return ""
        return (raw or "").strip() or self.access.default_namespace

    def _row(self, who: Principal, experiment_id: str, write: bool = False) -> Any:
        return self.access.check_row(who, self.store.get(experiment_id), write)

    def list_scope(
        self, who: Principal, namespace: str | None, experiment_id: str | None
    ) -> list[tuple[str, Any]]:
        """What a list of runs or recurring runs covers (the caller needs view on it): the
        experiment ``experiment_id`` if given, else the request's namespace."""
        if experiment_id:
            self._row(who, experiment_id)
            return [("experiment_id", experiment_id)]
        ns = self.namespace(namespace)
        self.access.check_read(who, ns)
        return [("namespace", ns)]

    def for_new_run(
        self, who: Principal, experiment_id: str, namespace: str | None, what: str
    ) -> Any:
        """The experiment a new run (``what``: "runs", "recurring runs") goes into: the given
        one, else the namespace's ``Default`` (created when missing, as kfp.Client would).
        The caller must be able to write its namespace and it must not be archived."""
        row = self._given_or_default(who, experiment_id, namespace)
        self.access.check_write(who, row["namespace"])
        if row["storage_state"] == "ARCHIVED":
            raise failed_precondition(
                f"Experiment {row['experiment_id']} is archived; unarchive it to add {what}"
            )
        return row

    def _given_or_default(self, who: Principal, experiment_id: str, namespace: str | None) -> Any:
        if experiment_id:
            row = self._row(who, experiment_id)
            if namespace and self.access.multi_user and namespace.strip() != row["namespace"]:
                raise invalid_argument(
                    f"Experiment {experiment_id} is in namespace {row['namespace']!r},"
                    f" not {namespace.strip()!r}"
                )
            return row
        ns = self.namespace(namespace)
        self.access.check_write(who, ns)
        found = self.store.find_by_name(ns, DEFAULT_EXPERIMENT)
        if found is not None:
            return found
        try:
            return self.store.create(ns, DEFAULT_EXPERIMENT)
        except ApiError:  # created meanwhile by another request
            return self.store.find_by_name(ns, DEFAULT_EXPERIMENT)

    def create(self, who: Principal, experiment: dict[str, Any]) -> dict:
        name = experiment.get("display_name") or ""
        if not name:
            raise invalid_argument("Experiment display_name is required")
        if len(name) > MAX_NAME_LENGTH:
            raise invalid_argument(f"Experiment display_name is longer than {MAX_NAME_LENGTH}")
        ns = self.namespace(experiment.get("namespace"))
        self.access.check_write(who, ns)
        return experiment_json(self.store.create(ns, name, experiment.get("description") or ""))

    def get(self, who: Principal, experiment_id: str) -> dict:
        return experiment_json(self._row(who, experiment_id))

    def list(self, who: Principal, namespace: str | None, params: ListParams) -> dict:
        ns = self.namespace(namespace)
        self.access.check_read(who, ns)
        query = params.query(EXPERIMENTS)
        page = self.store.list([("namespace", ns)], query)
        return page.to_json("experiments", experiment_json)

    def archive(self, who: Principal, experiment_id: str) -> None:
        self._row(who, experiment_id, write=True)
        self.store.set_storage_state(experiment_id, "ARCHIVED")

    def unarchive(self, who: Principal, experiment_id: str) -> None:
        self._row(who, experiment_id, write=True)
        self.store.set_storage_state(experiment_id, "AVAILABLE")

    def delete(self, who: Principal, experiment_id: str) -> None:
        self._row(who, experiment_id, write=True)
        self.store.delete(experiment_id)
