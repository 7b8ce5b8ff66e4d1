/**
 * The upload dialog's proposals as React state: a free pipeline name, or "a new version of"
 * the pipeline named like the file (really selected) with a free version name. A name the
 * user typed is never replaced; a mode the user chose is never switched back.
 */
import * as React from 'react';

import { DSPModel } from '../common/model';
import { IPipeline, SpaceName } from '../common/types';
import { freeVersionName, IUploadProposal, proposeUpload } from './uploadNames';

/** The fields of the dialog's state this file reads and proposes. */
export interface IUploadFields {
  fileName: string;
  mode: 'pipeline' | 'version';
  name: string;
  pipelineId: string;
  pipelineLabel: string;
}

function baseName(fileName: string): string {
  const base = fileName.split('/').pop() ?? fileName;
  return base.replace(/\.(ya?ml|json|zip|tar\.gz|tgz)$/i, '');
}

export function useUploadProposals(
  model: DSPModel,
  space: SpaceName,
  current: React.MutableRefObject<IUploadFields>,
  update: (patch: Partial<IUploadFields>) => void
): { setMode: (mode: IUploadFields['mode']) => void; choosePipeline: (id: string, label: string) => void } {
  const auto = React.useRef(current.current.name);
  const proposal = React.useRef<IUploadProposal | null>(null);
  const modeChosen = React.useRef(false);
  const request = React.useRef(0);

  /** The name field still holds what the dialog put there. */
  const untouched = (): boolean => {
    const s = current.current;
    return !s.name.trim() || s.name === auto.current || s.name === baseName(s.fileName);
  };
  const propose = (name: string): void => {
    if (untouched() && name) {
      auto.current = name;
      update({ name });
    }
  };

  const fileName = current.current.fileName;
  React.useEffect(() => {
    const base = baseName(fileName);
    if (!base) {
      return;
    }
    const ask = ++request.current;
    proposeUpload(model.client, space, base)
      .then(found => {
        if (ask !== request.current) {
          return;
        }
        proposal.current = found;
        const s = current.current;
        if (found.existing && !modeChosen.current) {
          const name = untouched() ? found.versionName : s.name;
          auto.current = found.versionName;
          update({
            mode: 'version',
            pipelineId: found.existing.pipeline_id,
            pipelineLabel: found.existing.display_name || found.existing.name || found.existing.pipeline_id,
            name
          });
        } else if (!found.existing && !modeChosen.current && s.mode === 'version') {
          const name = untouched() ? found.pipelineName : s.name;
          auto.current = found.pipelineName;
          update({ mode: 'pipeline', pipelineId: '', pipelineLabel: '', name });
        } else if (s.mode === 'pipeline') {
          propose(found.pipelineName);
        }
      })
      .catch(() => undefined); // no proposal: the user's own choice still uploads or says why
  }, [model, space, fileName]);

  const proposeVersion = (pipeline: IPipeline): void => {
    const ask = ++request.current;
    freeVersionName(model.client, space, pipeline)
      .then(name => ask === request.current && current.current.pipelineId === pipeline.pipeline_id && propose(name))
      .catch(() => undefined);
  };

  const setMode = (mode: IUploadFields['mode']): void => {
    modeChosen.current = true;
    const found = proposal.current;
    const s = current.current;
    if (mode === 'pipeline') {
      update({ mode });
      propose(found?.pipelineName ?? baseName(s.fileName));
      return;
    }
    if (!s.pipelineId && found?.existing) {
      update({
        mode,
        pipelineId: found.existing.pipeline_id,
        pipelineLabel: found.existing.display_name || found.existing.name || found.existing.pipeline_id
      });
      propose(found.versionName);
      return;
    }
    update({ mode });
    if (s.pipelineId) {
      proposeVersion({ pipeline_id: s.pipelineId, display_name: s.pipelineLabel } as IPipeline);
    }
  };

  const choosePipeline = (id: string, label: string): void => {
    update({ pipelineId: id, pipelineLabel: label });
    if (id) {
      proposeVersion({ pipeline_id: id, display_name: label } as IPipeline);
    }
  };
  return { setMode, choosePipeline };
}
