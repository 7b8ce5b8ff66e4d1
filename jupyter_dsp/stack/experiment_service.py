"""Experiments as the KFP API serves them (namespaces, authorization, validation).

Experiments always live in a namespace in multi-user mode; a request without one means the
stack's default namespace (KFP would refuse it; the embedded stack is forgiving so that a
plain ``kfp.Client().create_experiment(name)`` works). In single-user mode the namespace is
ignored and stored as ``""``.
"""

from __future__ import annotations

from typing import Any

from jupyter_dsp.stack.auth import Access, Principal
from jupyter_dsp.stack.errors import invalid_argument
from jupyter_dsp.stack.experiments_store import EXPERIMENTS, ExperimentStore
from jupyter_dsp.stack.listing import parse_list_request
from jupyter_dsp.stack.pipeline_service import ListParams
from jupyter_dsp.stack.serialize import experiment_json

MAX_NAME_LENGTH = 128


class ExperimentService:
    def __init__(self, store: ExperimentStore, access: Access) -> None:
        self.store = store
        self.access = access

    def namespace(self, raw: str | None) -> str:
        if not self.access.multi_user:
            return ""
        return (raw or "").strip() or self.access.default_namespace

    def _readable(self, who: Principal, experiment_id: str) -> Any:
        row = self.store.get(experiment_id)
        self.access.check_read(who, row["namespace"])
        return row

    def _writable(self, who: Principal, experiment_id: str) -> Any:
        row = self._readable(who, experiment_id)
        self.access.check_write(who, row["namespace"])
        return row

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
        return experiment_json(self._readable(who, experiment_id))

    def list(self, who: Principal, namespace: str | None, params: ListParams) -> dict:
        ns = self.namespace(namespace)
        self.access.check_read(who, ns)
        query = parse_list_request(EXPERIMENTS, **params.__dict__)
        page = self.store.list(ns, query)
        return page.to_json("experiments", experiment_json)

    def archive(self, who: Principal, experiment_id: str) -> None:
        self._writable(who, experiment_id)
        self.store.set_storage_state(experiment_id, "ARCHIVED")

    def unarchive(self, who: Principal, experiment_id: str) -> None:
        self._writable(who, experiment_id)
        self.store.set_storage_state(experiment_id, "AVAILABLE")

    def delete(self, who: Principal, experiment_id: str) -> None:
        self._writable(who, experiment_id)
        self.store.delete(experiment_id)
