/**
 * The left side panel: header, Project / Shared pipeline tabs and the
 * project's runs.
 */
import { showErrorMessage } from '@jupyterlab/apputils';
import { ReactWidget } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import * as React from 'react';

import { DSPError } from './common/api';
import { Header } from './components/Header';
import { IPipelineActions, PipelineBrowser } from './pipelines/PipelineBrowser';
import { RunSpace } from './common/lifecycle';
import { DSPModel } from './common/model';
import { RunsArea } from './runs/runsArea';
import { IRun, SpaceName } from './common/types';

export interface IPanelCallbacks {
  actions: IPipelineActions;
  upload: () => void;
  openRun: (runId: string, space?: RunSpace) => void;
  /** Compare runs side by side (runs/compare.tsx). */
  compare?: (runIds: string[]) => void;
}

function PanelView(props: { model: DSPModel; callbacks: IPanelCallbacks; visible: boolean }): JSX.Element {
  const { model, callbacks } = props;
  const [, setInfoVersion] = React.useState(0);
  const [loading, setLoading] = React.useState(true);
  const [tab, setTab] = React.useState<SpaceName>('project');
  const [refreshKey, setRefreshKey] = React.useState(0);

  React.useEffect(() => {
    const onInfo = (): void => setInfoVersion(v => v + 1);
    const onShowSpace = (_: DSPModel, space: SpaceName): void => setTab(space);
    model.infoChanged.connect(onInfo);
    model.showSpaceRequested.connect(onShowSpace);
    void model.refreshInfo().finally(() => setLoading(false));
    return () => {
      model.infoChanged.disconnect(onInfo);
      model.showSpaceRequested.disconnect(onShowSpace);
    };
  }, [model]);

  const refresh = (): void => {
    setLoading(true);
    void model.refreshInfo().finally(() => {
      setLoading(false);
      setRefreshKey(k => k + 1);
    });
  };

  const info = model.info;
  const sharedVisible = model.sharedVisible;
  const space: SpaceName = tab === 'shared' && sharedVisible ? 'shared' : 'project';
  const terminate = async (run: IRun): Promise<void> => {
    try {
      await model.client.terminateRun(run.run_id);
      model.notifyRuns();
    } catch (reason) {
      await showErrorMessage('Cannot terminate the run', reason instanceof DSPError ? reason.message : String(reason));
    }
  };

  return (
    <div className="jp-DSP-panelBody">
      <Header model={model} loading={loading} onRefresh={refresh} onUpload={callbacks.upload} />
      {info ? (
        <>
          <section className="jp-DSP-section jp-DSP-pipelinesSection">
            <div className="jp-DSP-tabs" role="tablist">
              <button
                role="tab"
                aria-selected={space === 'project'}
                className={`jp-DSP-tab${space === 'project' ? ' jp-mod-active' : ''}`}
                data-tab="project"
                onClick={() => setTab('project')}
              >
                Project
              </button>
              {sharedVisible ? (
                <button
                  role="tab"
                  aria-selected={space === 'shared'}
                  className={`jp-DSP-tab${space === 'shared' ? ' jp-mod-active' : ''}`}
                  data-tab="shared"
                  onClick={() => setTab('shared')}
                >
                  Shared{model.canWrite('shared') ? '' : ' (read-only)'}
                </button>
              ) : null}
            </div>
            {info.spaces?.[space]?.healthy === false &&
            info.spaces[space]?.error &&
            info.spaces[space]?.error !== info.error ? (
              <div className="jp-DSP-error" role="alert">
                {info.spaces[space]?.error}
              </div>
            ) : null}
            <PipelineBrowser
              key={space}
              model={model}
              space={space}
              actions={callbacks.actions}
              refreshKey={refreshKey}
              live={props.visible}
            />
          </section>
          <RunsArea
            model={model}
            visible={props.visible}
            refreshKey={refreshKey}
            openRun={callbacks.openRun}
            onCompare={callbacks.compare}
            onTerminate={terminate}
          />
        </>
      ) : null}
    </div>
  );
}

/**
 * The side panel widget. It loads nothing until first shown, and its runs list
 * stops polling while the panel is hidden.
 */
export class DSPPanel extends ReactWidget {
  constructor(
    readonly model: DSPModel,
    private readonly callbacks: IPanelCallbacks
  ) {
    super();
    this.id = 'jupyter-dsp-panel';
    this.addClass('jp-DSP-panel');
  }

  protected onAfterAttach(msg: Message): void {
    this.shown = this.shown || this.isVisible;
    super.onAfterAttach(msg);
  }

  protected onAfterShow(msg: Message): void {
    this.shown = true;
    super.onAfterShow(msg);
    this.update();
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this.update();
  }

  render(): JSX.Element {
    if (!this.shown) {
      return <div className="jp-DSP-panelBody" />;
    }
    return <PanelView model={this.model} callbacks={this.callbacks} visible={this.isVisible} />;
  }

  private shown = false;
}
