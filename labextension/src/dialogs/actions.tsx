/**
 * Fork (copy a shared version into the project as a private pipeline) and
 * Delete (confirmed), with their errors shown to the user.
 */
import { Dialog, Notification, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import * as React from 'react';

import { errorText } from '../common/api';
import { pipelineLabel } from '../common/format';
import { DSPModel } from '../common/model';
import { IPipeline, IPipelineVersion, SpaceName } from '../common/types';

/**
 * The file a fork uploads: the version's spec as JSON (valid YAML), followed by
 * its platform spec as a second YAML document when there is one.
 */
export function forkFile(spec: Record<string, any>): string {
  if (spec && typeof spec.pipeline_spec === 'object' && !spec.root) {
    const parts = [JSON.stringify(spec.pipeline_spec)];
    if (spec.platform_spec) {
      parts.push(JSON.stringify(spec.platform_spec));
    }
    return parts.join('\n---\n') + '\n';
  }
  return JSON.stringify(spec) + '\n';
}

/** Create a private pipeline in the project from a shared version's spec. */
export async function forkPipeline(
  model: DSPModel,
  pipeline: IPipeline,
  version?: IPipelineVersion,
  space: SpaceName = 'shared'
): Promise<boolean> {
  let full: IPipelineVersion | null;
  try {
    full = version?.pipeline_spec
      ? version
      : version
        ? await model.client.getVersion(space, pipeline.pipeline_id, version.pipeline_version_id)
        : await model.client.latestVersion(space, pipeline.pipeline_id);
  } catch (reason) {
    await showErrorMessage('Cannot read the shared pipeline', errorText(reason));
    return false;
  }
  if (!full?.pipeline_spec) {
    await showErrorMessage('Nothing to fork', `Pipeline "${pipelineLabel(pipeline)}" has no version with a spec.`);
    return false;
  }
  let name = pipeline.name || pipelineLabel(pipeline);
  if (space === 'managed' || pipeline.tags?.managed === 'true') {
    name = `${name}-fork`; // a managed pipeline lives in the project's own stack: its name is taken
  }
  const input = (
    <label className="jp-DSP-field">
      <span className="jp-DSP-field-label">Name in project {model.info?.namespace}</span>
      <input
        className="jp-mod-styled jp-DSP-input"
        name="fork-name"
        defaultValue={name}
        onChange={e => (name = e.target.value)}
      />
    </label>
  );
  const result = await showDialog({
    title: `Fork ${pipelineLabel(pipeline)} into the project`,
    body: input,
    buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Fork' })],
    focusNodeSelector: 'input'
  });
  if (!result.button.accept) {
    return false;
  }
  if (!name.trim()) {
    await showErrorMessage('Cannot fork', 'The pipeline needs a name.');
    return false;
  }
  try {
    await model.client.upload({
      space: 'project',
      file: new Blob([forkFile(full.pipeline_spec)], { type: 'application/yaml' }),
      fileName: 'pipeline.yaml',
      name: name.trim(),
      description: pipeline.description
        ? `${pipeline.description} (forked from shared ${pipelineLabel(pipeline)})`
        : `Forked from shared pipeline ${pipelineLabel(pipeline)}, version ${pipelineLabel({
            ...full,
            pipeline_id: full.pipeline_version_id
          })}`
    });
  } catch (reason) {
    await showErrorMessage('Fork failed', errorText(reason));
    return false;
  }
  model.notifyPipelines('project');
  model.showSpace('project');
  Notification.success(`Forked "${pipelineLabel(pipeline)}" into the project as "${name.trim()}".`, {
    autoClose: 5000
  });
  return true;
}

/** Delete a pipeline (with its versions) or one version, after confirmation. */
export async function deleteItem(
  model: DSPModel,
  space: SpaceName,
  pipeline: IPipeline,
  version?: IPipelineVersion
): Promise<boolean> {
  const what = version
    ? `version "${pipelineLabel({ ...version, pipeline_id: version.pipeline_version_id })}" of pipeline "${pipelineLabel(pipeline)}"`
    : `pipeline "${pipelineLabel(pipeline)}" and all its versions`;
  const result = await showDialog({
    title: 'Delete?',
    body: `Delete ${what}${space === 'shared' ? ' from the shared space, for every project' : ''}? This cannot be undone.`,
    buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
  });
  if (!result.button.accept) {
    return false;
  }
  try {
    if (version) {
      await model.client.deleteVersion(space, pipeline.pipeline_id, version.pipeline_version_id);
    } else {
      await model.client.deletePipeline(space, pipeline.pipeline_id);
    }
  } catch (reason) {
    await showErrorMessage('Delete failed', errorText(reason));
    return false;
  }
  model.notifyPipelines(space);
  return true;
}
