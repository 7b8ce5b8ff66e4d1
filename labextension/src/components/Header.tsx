import { fileUploadIcon, refreshIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import { DSPModel } from '../common/model';
import { ErrorBox } from './ErrorBox';

/** Connection state (namespace, mode, identity) or the error and its hint; refresh and upload. */
export function Header(props: {
  model: DSPModel;
  loading: boolean;
  onRefresh: () => void;
  onUpload: () => void;
}): JSX.Element {
  const { info, infoError } = props.model;
  const problem = infoError ?? (info && !info.healthy ? info.error ?? 'The pipelines server is not healthy.' : null);
  return (
    <div className="jp-DSP-header">
      <div className="jp-DSP-header-top">
        <span className="jp-DSP-title">Pipelines</span>
        <span className="jp-DSP-header-buttons">
          <button
            className="jp-DSP-iconButton"
            title="Upload a pipeline file"
            aria-label="Upload a pipeline file"
            data-action="upload"
            disabled={!info || !props.model.canWrite('project')}
            onClick={props.onUpload}
          >
            <fileUploadIcon.react tag="span" elementSize="small" />
          </button>
          <button
            className="jp-DSP-iconButton"
            title="Refresh"
            aria-label="Refresh"
            data-action="refresh"
            onClick={props.onRefresh}
          >
            <refreshIcon.react tag="span" elementSize="small" />
          </button>
        </span>
      </div>
      {info ? (
        <div className="jp-DSP-connection" data-healthy={String(info.healthy)}>
          <span className={`jp-DSP-dot ${info.healthy ? 'jp-DSP-dot-ok' : 'jp-DSP-dot-bad'}`} />
          <span className="jp-DSP-namespace" title={info.identity}>
            {info.namespace}
          </span>
          <span className="jp-DSP-mode">{info.mode}</span>
          <span className="jp-DSP-mode" title="Shared pipelines policy">
            shared: {info.policy}
          </span>
        </div>
      ) : props.loading ? (
        <div className="jp-DSP-connection">Connecting…</div>
      ) : null}
      {problem ? <ErrorBox error={problem} hint={info?.hint ?? props.model.infoHint} onRetry={props.onRefresh} /> : null}
    </div>
  );
}
