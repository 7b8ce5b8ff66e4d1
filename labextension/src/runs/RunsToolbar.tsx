/**
 * Above the runs list: filter by experiment, show archived runs (hidden by default, as in
 * KFP's UI), and bulk archive / delete of the selected runs (confirmed).
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import * as React from 'react';

import { errorText } from '../common/api';
import { IExperiment, lifecycleOf, RunSpace } from '../common/lifecycle';
import { DSPModel } from '../common/model';

export interface IRunFilter {
  experimentId: string; // '' = all experiments
  showArchived: boolean;
}

export function useExperiments(model: DSPModel, space: RunSpace, tick: number): IExperiment[] {
  const [experiments, setExperiments] = React.useState<IExperiment[]>([]);
  React.useEffect(() => {
    let cancelled = false;
    lifecycleOf(model)
      .api.listExperiments(space)
      .then(page => !cancelled && setExperiments(page.experiments ?? []))
      .catch(() => !cancelled && setExperiments([])); // the runs list shows the stack's error
    return () => {
      cancelled = true;
    };
  }, [model, space, tick]);
  return experiments;
}

/** Archive or delete runs one by one; the refusals are collected, not thrown. */
export async function bulkRunAction(
  model: DSPModel,
  space: RunSpace,
  runIds: string[],
  action: 'archive' | 'unarchive' | 'delete'
): Promise<string[]> {
  const api = lifecycleOf(model).api;
  const failures: string[] = [];
  for (const id of runIds) {
    try {
      if (action === 'delete') {
        await api.deleteRun(space, id);
      } else {
        await api.runAction(space, id, action);
      }
    } catch (reason) {
      failures.push(`${id}: ${errorText(reason)}`);
    }
  }
  return failures;
}

export function RunsToolbar(props: {
  model: DSPModel;
  space: RunSpace;
  experiments: IExperiment[];
  filter: IRunFilter;
  onFilter: (filter: IRunFilter) => void;
  selected: string[];
  selectedArchived: number;
  onDone: (failures: string[]) => void;
}): JSX.Element {
  const { filter, selected } = props;
  const experiment = props.experiments.find(e => e.experiment_id === filter.experimentId);
  const experimentArchived = experiment?.storage_state === 'ARCHIVED';
  const archiveExperiment = async (): Promise<void> => {
    if (!experiment) {
      return;
    }
    const label = experiment.display_name || experiment.experiment_id;
    if (!experimentArchived) {
      const answer = await showDialog({
        title: 'Archive experiment',
        body: `Archive the experiment "${label}"? It stays listed as archived and can be restored.`,
        buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Archive' })]
      });
      if (!answer.button.accept) {
        return;
      }
    }
    try {
      await lifecycleOf(props.model).api.setExperimentArchived(props.space, experiment.experiment_id, !experimentArchived);
      props.onDone([]);
    } catch (reason) {
      props.onDone([`${label}: ${errorText(reason)}`]);
    }
  };
  const run = async (action: 'archive' | 'unarchive' | 'delete'): Promise<void> => {
    const n = selected.length;
    const what = `${n} run${n === 1 ? '' : 's'}`;
    if (action === 'delete') {
      const answer = await showDialog({
        title: `Delete ${what}`,
        body: `Delete ${what} with their logs and outputs? This cannot be undone.`,
        buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
      });
      if (!answer.button.accept) {
        return;
      }
    } else if (action === 'archive') {
      const answer = await showDialog({
        title: `Archive ${what}`,
        body: `Archive ${what}? Archived runs are hidden from the list ("Show archived" shows them) and can be restored.`,
        buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Archive' })]
      });
      if (!answer.button.accept) {
        return;
      }
    }
    props.onDone(await bulkRunAction(props.model, props.space, selected, action));
  };
  return (
    <div className="jp-DSP-runsToolbar">
      <select
        className="jp-mod-styled jp-DSP-experimentFilter"
        aria-label="Experiment"
        title="Show the runs of one experiment"
        value={filter.experimentId}
        onChange={e => props.onFilter({ ...filter, experimentId: e.target.value })}
      >
        <option value="">All experiments</option>
        {props.experiments.map(e => (
          <option key={e.experiment_id} value={e.experiment_id}>
            {e.display_name || e.experiment_id}
            {e.storage_state === 'ARCHIVED' ? ' (archived)' : ''}
          </option>
        ))}
      </select>
      {experiment ? (
        <button
          className="jp-DSP-link"
          data-action={experimentArchived ? 'restore-experiment' : 'archive-experiment'}
          title={experimentArchived ? 'Restore this experiment' : 'Archive this experiment'}
          onClick={() => void archiveExperiment()}
        >
          {experimentArchived ? 'Restore experiment' : 'Archive experiment'}
        </button>
      ) : null}
      <label className="jp-DSP-switch" title="Archived runs are hidden unless this is on">
        <input
          type="checkbox"
          name="show-archived"
          checked={filter.showArchived}
          onChange={e => props.onFilter({ ...filter, showArchived: e.target.checked })}
        />{' '}
        Show archived
      </label>
      {selected.length ? (
        <span className="jp-DSP-bulk">
          <span className="jp-DSP-row-meta">{selected.length} selected</span>
          {props.selectedArchived < selected.length ? (
            <button className="jp-DSP-link" data-action="bulk-archive" onClick={() => void run('archive')}>
              Archive
            </button>
          ) : null}
          {props.selectedArchived > 0 ? (
            <button className="jp-DSP-link" data-action="bulk-restore" onClick={() => void run('unarchive')}>
              Restore
            </button>
          ) : null}
          <button className="jp-DSP-link jp-DSP-danger" data-action="bulk-delete" onClick={() => void run('delete')}>
            Delete
          </button>
        </span>
      ) : null}
    </div>
  );
}
