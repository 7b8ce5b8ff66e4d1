/**
 * Links out to the cluster's own UI (the KFP UI on Kubeflow, the ODH dashboard's pages on
 * Open Data Hub). The links are made by the server by the kernel's rule (common/links.py):
 * `dsp/info` sends `ui.templates` with placeholders; this file only fills in the ids.
 * No UI (embedded stack): no link.
 */
import { launchIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import { DSPModel } from './model';
import { SpaceName } from './types';

const RUN = 'RUN_ID_';
const EXPERIMENT = 'EXPERIMENT_ID_';
const PIPELINE = 'PIPELINE_ID_';
const VERSION = 'VERSION_ID_';

function fill(template: string | null | undefined, values: Record<string, string>): string | null {
  if (!template) {
    return null;
  }
  let out = template;
  for (const [key, value] of Object.entries(values)) {
    out = out.split(key).join(encodeURIComponent(value));
  }
  return out;
}

/** The run's page in the cluster UI, or null. */
export function runLink(model: DSPModel, runId: string, experimentId?: string): string | null {
  const t = model.info?.ui?.templates;
  if (!t || !runId) {
    return null;
  }
  return experimentId
    ? fill(t.run, { [RUN]: runId, [EXPERIMENT]: experimentId })
    : fill(t.run_no_experiment, { [RUN]: runId });
}

/**
 * The pipeline's (or version's) page in the cluster UI, or null. Only pipelines that live in
 * the project's own stack have one: a separate catalog stack is not the UI's.
 */
export function pipelineLink(
  model: DSPModel,
  space: SpaceName,
  pipelineId: string,
  versionId?: string
): string | null {
  const info = model.info;
  const t = info?.ui?.templates;
  if (!t || !pipelineId) {
    return null;
  }
  if (space === 'shared' && info?.spaces.shared?.endpoint_host !== info?.spaces.project?.endpoint_host) {
    return null;
  }
  return versionId
    ? fill(t.version, { [PIPELINE]: pipelineId, [VERSION]: versionId })
    : fill(t.pipeline, { [PIPELINE]: pipelineId });
}

/** An icon link that opens `href` in a new tab (nothing without a link). */
export function UILink(props: { href: string | null; title?: string; label?: string }): JSX.Element | null {
  if (!props.href) {
    return null;
  }
  const kind = 'Open in the cluster UI';
  return (
    <a
      className="jp-DSP-iconButton jp-DSP-uiLink"
      href={props.href}
      target="_blank"
      rel="noopener noreferrer"
      title={props.title ?? kind}
      aria-label={props.title ?? kind}
      data-action="open-ui"
      onClick={event => event.stopPropagation()}
    >
      <launchIcon.react tag="span" elementSize="small" />
      {props.label ? <span className="jp-DSP-uiLink-label">{props.label}</span> : null}
    </a>
  );
}
