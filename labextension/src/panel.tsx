/**
 * The left side panel: header, Project / Shared pipeline tabs and the
 * project's runs.
 */
import { Message } from '@lumino/messaging';
import * as React from 'react';

import { RunSpace } from './common/lifecycle';
import { DSPModel } from './common/model';
import { SpaceName } from './common/types';
import { Header } from './components/Header';
import { Tab } from './components/Tab';
import { VisibilityWidget } from './components/VisibilityWidget';
import { IPipelineActions, PipelineBrowser } from './pipelines/PipelineBrowser';
import { RunsArea } from './runs/runsArea';

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

  return (
    <div className="jp-DSP-panelBody">
      <Header model={model} loading={loading} onRefresh={refresh} onUpload={callbacks.upload} />
      {info ? (
        <>
          <section className="jp-DSP-section jp-DSP-pipelinesSection">
            <div className="jp-DSP-tabs" role="tablist">
              <Tab id="project" active={space === 'project'} onSelect={() => setTab('project')}>
                Project
              </Tab>
              {sharedVisible ? (
                <Tab id="shared" active={space === 'shared'} onSelect={() => setTab('shared')}>
                  Shared{model.canWrite('shared') ? '' : ' (read-only)'}
                </Tab>
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
export class DSPPanel extends VisibilityWidget {
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
  }

  render(): JSX.Element {
    if (!this.shown) {
      return <div className="jp-DSP-panelBody" />;
    }
    return <PanelView model={this.model} callbacks={this.callbacks} visible={this.isVisible} />;
  }

  private shown = false;
}
