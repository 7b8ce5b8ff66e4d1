/**
 * The panel's lower half: the project's runs, its schedules, and (in a cluster workbench)
 * the runs made locally with "Run locally", each on its own tab.
 */
import { showErrorMessage } from '@jupyterlab/apputils';
import * as React from 'react';

import { DSPError } from '../common/api';
import { RunsList } from './RunsList';
import { lifecycleOf, RunSpace } from '../common/lifecycle';
import { DSPModel } from '../common/model';
import { SchedulesSection } from '../schedules/schedules';
import { IRun } from '../common/types';

type RunsTab = 'runs' | 'schedules' | 'local';

export function RunsArea(props: {
  model: DSPModel;
  visible: boolean;
  refreshKey: number;
  openRun: (runId: string, space?: RunSpace) => void;
  onCompare?: (runIds: string[]) => void;
  onTerminate: (run: IRun) => Promise<void>;
}): JSX.Element {
  const { model } = props;
  const [tab, setTab] = React.useState<RunsTab>('runs');
  const lifecycle = lifecycleOf(model);
  const local = lifecycle.localAvailable;
  const current: RunsTab = tab === 'local' && !local ? 'runs' : tab;
  const namespace = model.info?.namespace ?? '';
  const terminateLocal = async (run: IRun): Promise<void> => {
    try {
      await lifecycle.api.runAction('local', run.run_id, 'terminate');
      model.notifyRuns();
    } catch (reason) {
      await showErrorMessage('Cannot terminate the run', reason instanceof DSPError ? reason.message : String(reason));
    }
  };
  const tabButton = (id: RunsTab, label: string, title: string): JSX.Element => (
    <button
      role="tab"
      aria-selected={current === id}
      className={`jp-DSP-tab${current === id ? ' jp-mod-active' : ''}`}
      data-tab={id}
      title={title}
      onClick={() => setTab(id)}
    >
      {label}
    </button>
  );
  return (
    <section className="jp-DSP-section jp-DSP-runsSection">
      <div className="jp-DSP-tabs" role="tablist">
        {tabButton('runs', 'Runs', `Runs in ${namespace}`)}
        {tabButton('schedules', 'Schedules', `Recurring runs in ${namespace}`)}
        {local ? tabButton('local', 'Local', 'Runs made on this workbench with "Run locally"') : null}
      </div>
      {current === 'runs' ? (
        <>
          <div className="jp-DSP-section-title">Runs in {namespace}</div>
          <RunsList
            key="project"
            model={model}
            visible={props.visible}
            refreshKey={props.refreshKey}
            onOpen={run => props.openRun(run.run_id, 'project')}
            onCompare={props.onCompare}
            onTerminate={props.onTerminate}
          />
        </>
      ) : null}
      {current === 'schedules' ? (
        <>
          <div className="jp-DSP-section-title">Schedules in {namespace}</div>
          <SchedulesSection
            model={model}
            visible={props.visible}
            refreshKey={props.refreshKey}
            onOpenRun={run => props.openRun(run.run_id, 'project')}
          />
        </>
      ) : null}
      {current === 'local' ? (
        <>
          <div className="jp-DSP-section-title">Local runs (this workbench; the cluster is not used)</div>
          <RunsList
            key="local"
            space="local"
            model={model}
            visible={props.visible}
            refreshKey={props.refreshKey}
            onOpen={run => props.openRun(run.run_id, 'local')}
            onTerminate={terminateLocal}
          />
        </>
      ) : null}
    </section>
  );
}
