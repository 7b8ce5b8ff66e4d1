/**
 * The panel's lower half: the project's runs, its schedules, and (in a cluster workbench)
 * the runs made locally with "Run locally", each on its own tab.
 */
import * as React from 'react';

import { lifecycleOf, RunSpace } from '../common/lifecycle';
import { DSPModel } from '../common/model';
import { Tab } from '../components/Tab';
import { SchedulesSection } from '../schedules/schedules';
import { RunsList } from './RunsList';

type RunsTab = 'runs' | 'schedules' | 'local';

export function RunsArea(props: {
  model: DSPModel;
  visible: boolean;
  refreshKey: number;
  openRun: (runId: string, space?: RunSpace) => void;
  onCompare?: (runIds: string[]) => void;
}): JSX.Element {
  const { model } = props;
  const [tab, setTab] = React.useState<RunsTab>('runs');
  const lifecycle = lifecycleOf(model);
  const local = lifecycle.localAvailable;
  const current: RunsTab = tab === 'local' && !local ? 'runs' : tab;
  const namespace = model.info?.namespace ?? '';
  /** Whose runs the list shows (the Runs and Local tabs). */
  const space: RunSpace = current === 'local' ? 'local' : 'project';
  const tabButton = (id: RunsTab, label: string, title: string): JSX.Element => (
    <Tab id={id} active={current === id} title={title} onSelect={() => setTab(id)}>
      {label}
    </Tab>
  );
  return (
    <section className="jp-DSP-section jp-DSP-runsSection">
      <div className="jp-DSP-tabs" role="tablist">
        {tabButton('runs', 'Runs', `Runs in ${namespace}`)}
        {tabButton('schedules', 'Schedules', `Recurring runs in ${namespace}`)}
        {local ? tabButton('local', 'Local', 'Runs made on this workbench with "Run locally"') : null}
      </div>
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
      ) : (
        <>
          <div className="jp-DSP-section-title">
            {space === 'local' ? 'Local runs (this workbench; the cluster is not used)' : `Runs in ${namespace}`}
          </div>
          <RunsList
            key={space}
            space={space}
            model={model}
            visible={props.visible}
            refreshKey={props.refreshKey}
            onOpen={run => props.openRun(run.run_id, space)}
            onCompare={space === 'project' ? props.onCompare : undefined}
          />
        </>
      )}
    </section>
  );
}
