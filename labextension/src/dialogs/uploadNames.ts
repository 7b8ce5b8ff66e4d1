/**
 * What the upload dialog proposes, so that the first try works: a pipeline name nobody in
 * the space uses, or, when a pipeline of the file's name exists, "a new version of" it with
 * a version name it does not have yet.
 */
import { DSPClient, IListOptions } from '../common/api';
import { pipelineLabel } from '../common/format';
import { IPipeline, SpaceName } from '../common/types';

/** `base` if free, else `base-2`, `base-3`, ... */
export function freeName(base: string, taken: ReadonlySet<string>): string {
  const stem = base.trim() || 'pipeline';
  if (!taken.has(stem)) {
    return stem;
  }
  for (let i = 2; ; i++) {
    const candidate = `${stem}-${i}`;
    if (!taken.has(candidate)) {
      return candidate;
    }
  }
}

export interface IUploadProposal {
  /** A free pipeline name (for "a new pipeline"). */
  pipelineName: string;
  /** The pipeline named like the file, when there is one: preselect "a new version of" it. */
  existing: IPipeline | null;
  /** A free version name of `existing` ('' without one). */
  versionName: string;
}

function names(items: { name?: string; display_name?: string }[]): Set<string> {
  const out = new Set<string>();
  for (const item of items) {
    for (const n of [item.name, item.display_name]) {
      if (n) {
        out.add(n);
      }
    }
  }
  return out;
}

/** Pipelines whose name contains `base` (the server filters), up to 200 of them. */
async function similarPipelines(client: DSPClient, space: SpaceName, base: string): Promise<IPipeline[]> {
  const options: IListOptions = { pageSize: 200, nameContains: base };
  return (await client.listPipelines(space, options)).pipelines ?? [];
}

/** A version name `existing` does not have: `<pipeline>-v<N+1>` for its N versions, or the next free. */
export async function freeVersionName(client: DSPClient, space: SpaceName, pipeline: IPipeline): Promise<string> {
  const page = await client.listVersions(space, pipeline.pipeline_id, { pageSize: 200 });
  const versions = page.pipeline_versions ?? [];
  const taken = names(versions);
  const count = page.total_size ?? versions.length;
  const stem = pipelineLabel(pipeline);
  for (let n = count + 1; ; n++) {
    const candidate = `${stem}-v${n}`;
    if (!taken.has(candidate)) {
      return candidate;
    }
  }
}

export async function proposeUpload(client: DSPClient, space: SpaceName, base: string): Promise<IUploadProposal> {
  const stem = base.trim();
  if (!stem) {
    return { pipelineName: '', existing: null, versionName: '' };
  }
  const similar = await similarPipelines(client, space, stem);
  const existing = similar.find(p => p.name === stem || p.display_name === stem) ?? null;
  return {
    pipelineName: freeName(stem, names(similar)),
    existing,
    versionName: existing ? await freeVersionName(client, space, existing) : ''
  };
}
