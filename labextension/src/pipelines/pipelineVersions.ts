/** A pipeline browser's opened pipelines: their versions, page by page. */
import * as React from 'react';

import { errorText } from '../common/api';
import { DSPModel } from '../common/model';
import { IPipeline, IPipelineVersion, SpaceName } from '../common/types';

export interface IVersionsState {
  versions: IPipelineVersion[];
  loading: boolean;
  error: string | null;
  nextPageToken: string;
  total: number;
}

export type Expanded = Record<string, IVersionsState>;

/** Load (a page of) a pipeline's versions into `expanded`; open or close a pipeline. */
export function versionLoader(
  model: DSPModel,
  spaceOf: (p: IPipeline) => SpaceName,
  expanded: Expanded,
  setExpanded: React.Dispatch<React.SetStateAction<Expanded>>
): { loadVersions: (pipeline: IPipeline, pageToken?: string) => void; toggle: (pipeline: IPipeline) => void } {
  const loadVersions = (pipeline: IPipeline, pageToken = ''): void => {
    const id = pipeline.pipeline_id;
    setExpanded(state => ({
      ...state,
      [id]: {
        ...(state[id] ?? { versions: [], nextPageToken: '', total: 0 }),
        loading: true,
        error: null
      }
    }));
    model.client
      .listVersions(spaceOf(pipeline), id, { pageToken, pageSize: 50 })
      .then(page =>
        setExpanded(state =>
          state[id]
            ? {
                ...state,
                [id]: {
                  versions: (pageToken ? state[id].versions : []).concat(page.pipeline_versions ?? []),
                  loading: false,
                  error: null,
                  nextPageToken: page.next_page_token ?? '',
                  total: page.total_size ?? 0
                }
              }
            : state
        )
      )
      .catch(reason =>
        setExpanded(state =>
          state[id] ? { ...state, [id]: { ...state[id], loading: false, error: errorText(reason) } } : state
        )
      );
  };

  const toggle = (pipeline: IPipeline): void => {
    if (expanded[pipeline.pipeline_id]) {
      setExpanded(state => {
        const next = { ...state };
        delete next[pipeline.pipeline_id];
        return next;
      });
    } else {
      loadVersions(pipeline);
    }
  };
  return { loadVersions, toggle };
}
