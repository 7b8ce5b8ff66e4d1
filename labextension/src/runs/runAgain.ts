/**
 * "Run again": the run dialog filled with a run's pipeline version (or its inline spec),
 * parameters, name and experiment, ready to change and start.
 */
import { showErrorMessage } from '@jupyterlab/apputils';

import { errorText } from '../common/api';
import { RunSpace } from '../common/lifecycle';
import { DSPModel } from '../common/model';
import { unwrapSpec } from '../common/spec';
import { IPipeline, IPipelineVersion, IRun, SpaceName } from '../common/types';
import { IRunDialogResult, runPipeline } from '../dialogs/runDialog';

async function storedVersion(
  model: DSPModel,
  pipelineId: string,
  versionId: string
): Promise<{ space: SpaceName; pipeline: IPipeline; version: IPipelineVersion }> {
  const spaces: SpaceName[] = model.sharedVisible ? ['project', 'shared'] : ['project'];
  let last: unknown = null;
  for (const space of spaces) {
    try {
      const version = await model.client.getVersion(space, pipelineId, versionId);
      let pipeline: IPipeline = { pipeline_id: pipelineId };
      try {
        pipeline = await model.client.json<IPipeline>(
          model.client.apiUrl(space, `pipelines/${encodeURIComponent(pipelineId)}`)
        );
      } catch {
        // the version is enough to run; the title then shows the id
      }
      return { space, pipeline, version };
    } catch (reason) {
      last = reason;
    }
  }
  throw last;
}

export async function runAgain(model: DSPModel, run: IRun, space: RunSpace): Promise<IRunDialogResult | null> {
  const options = {
    parameters: run.runtime_config?.parameters ?? {},
    displayName: `Rerun of ${run.display_name || run.run_id}`,
    experimentId: run.experiment_id,
    runSpace: space
  };
  const ref = run.pipeline_version_reference;
  if (space === 'project' && ref?.pipeline_id && ref.pipeline_version_id) {
    let found;
    try {
      found = await storedVersion(model, ref.pipeline_id, ref.pipeline_version_id);
    } catch (reason) {
      await showErrorMessage(
        'Cannot run again',
        `The run's pipeline version ${ref.pipeline_version_id} cannot be read: ${errorText(reason)}`
      );
      return null;
    }
    return runPipeline(model, found.space, found.pipeline, found.version, options);
  }
  const spec = run.pipeline_spec;
  if (!spec || !Object.keys(spec).length) {
    await showErrorMessage('Cannot run again', 'The run carries no pipeline spec and no version reference.');
    return null;
  }
  const name = (unwrapSpec(spec).pipelineInfo?.name as string | undefined) ?? run.display_name ?? run.run_id;
  return runPipeline(
    model,
    'project',
    { pipeline_id: '', display_name: name },
    { pipeline_id: '', pipeline_version_id: '', display_name: name, pipeline_spec: spec },
    { ...options, inlineSpec: true }
  );
}
