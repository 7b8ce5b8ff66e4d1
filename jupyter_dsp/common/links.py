"""Links out: each run, pipeline and version's page in the cluster's own UI.

- Kubeflow: the KFP UI, served under ``/pipeline`` on the central dashboard's host (which also
  serves the notebook, so a relative link works): ``#/runs/details/<run>``,
  ``#/pipelines/details/<pipeline>[/version/<version>]``.
- Open Data Hub / OpenShift AI: the operator removed the KFP UI from DSP; the ODH dashboard has
  the pages. The Elyra runtime file's ``public_api_endpoint`` is the dashboard's experiments
  page of the namespace (``https://<dashboard>/experiments/<ns>/``); a run is
  ``<that>/<experiment>/runs/<run>``; a version ``<dashboard>/develop-train/pipelines/definitions
  /<ns>/<pipeline>/<version>/view`` (odh-dashboard routes, pipelineVersionDetailsRoute).
- Or configured: ``DSPSettings.ui_url`` (base) and ``ui_kind`` (``kfp`` | ``odh``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from jupyter_dsp.common.runtime_files import runtime_url

KUBEFLOW_UI = "/pipeline"
ODH_PIPELINES = "/develop-train/pipelines/definitions"


@dataclass(frozen=True)
class UILinks:
    kind: str  # "kfp" | "odh"
    base: str  # kfp: the UI's base (e.g. /pipeline); odh: the dashboard's origin
    namespace: str
    experiments_page: str = ""  # odh: the namespace's experiments page, when known

    def run(self, run_id: str, experiment_id: str = "") -> str | None:
        if not run_id:
            return None
        if self.kind == "kfp":
            return f"{self.base}/#/runs/details/{q(run_id)}"
        page = self.experiments_page or f"{self.base}/experiments/{q(self.namespace)}"
        if experiment_id:
            return f"{page.rstrip('/')}/{q(experiment_id)}/runs/{q(run_id)}"
        return page

    def pipeline(self, pipeline_id: str, version_id: str = "") -> str | None:
        if not pipeline_id:
            return None
        if self.kind == "kfp":
            tail = f"/version/{q(version_id)}" if version_id else ""
            return f"{self.base}/#/pipelines/details/{q(pipeline_id)}{tail}"
        root = f"{self.base}{ODH_PIPELINES}/{q(self.namespace)}"
        if version_id:
            return f"{root}/{q(pipeline_id)}/{q(version_id)}/view"
        return root

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "base": self.base, "namespace": self.namespace}


def q(part: str) -> str:
    return quote(part, safe="")


def ui_links(mode: str, namespace: str, settings: Any) -> UILinks | None:
    """The cluster UI for this connection, or None when there is none to link to."""
    configured = str(getattr(settings, "ui_url", "") or "").rstrip("/")
    kind = str(getattr(settings, "ui_kind", "") or "").lower()
    if configured:
        return UILinks(
            kind or ("kfp" if mode == "cluster-kubeflow" else "odh"), configured, namespace
        )
    if mode == "cluster-kubeflow":
        return UILinks("kfp", KUBEFLOW_UI, namespace)
    public = public_api_endpoint(str(getattr(settings, "runtimes_dir", "") or ""))
    if public and mode != "embedded":
        parts = urlsplit(public)
        return UILinks("odh", f"{parts.scheme}://{parts.netloc}", namespace, public.rstrip("/"))
    return None


def public_api_endpoint(runtimes_dir: str) -> str | None:
    """``metadata.public_api_endpoint`` of the first Elyra KFP runtime file that has one."""
    found = runtime_url(runtimes_dir, "public_api_endpoint")
    return found[1] if found else None
