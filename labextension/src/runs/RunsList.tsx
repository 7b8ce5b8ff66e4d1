/**
 * The project's recent runs with state badges, live while the panel is visible (a local
 * stack's runs are polled while any is active).
 */
import { showErrorMessage } from '@jupyterlab/apputils';
import { stopIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import { DSPError } from '../common/api';
import { formatDuration, formatTime } from '../common/format';
import { lifecycleOf, RunSpace } from '../common/lifecycle';
import { runLink, UILink } from '../common/links';
import { DSPModel } from '../common/model';
import { IRun, isActive } from '../common/types';
import { ErrorBox } from '../components/ErrorBox';
import { RunRow } from '../components/RunRow';
import { StateBadge } from '../components/StateBadge';
import { useLive, useRunsTick } from '../live/useLive';
import { IRunFilter, RunsToolbar, useExperiments } from './RunsToolbar';

const POLL_MS = 3000;

export function RunsList(props: {
  model: DSPModel;
  /** Poll only while the panel is visible; catch up when it shows again. */
  visible: boolean;
  refreshKey: number;
  onOpen: (run: IRun) => void;
  /** Open the Compare view for the runs ticked in the list. */
  onCompare?: (runIds: string[]) => void;
  /** The project's runs (default) or the local stack's ("run locally"). */
  space?: RunSpace;
}): JSX.Element {
  const { model } = props;
  const space = props.space ?? 'project';
  const [filter, setFilter] = React.useState<IRunFilter>({ experimentId: '', showArchived: false });
  const [bulkErrors, setBulkErrors] = React.useState<string[]>([]);
  const [runs, setRuns] = React.useState<IRun[]>([]);
  const [total, setTotal] = React.useState(0);
  const [pageSize, setPageSize] = React.useState(20);
  const [error, setError] = React.useState<string | null>(null);
  const [loaded, setLoaded] = React.useState(false);
  const [tick, bump] = useRunsTick(model);
  const terminate = async (run: IRun): Promise<void> => {
    try {
      await lifecycleOf(model).api.runAction(space, run.run_id, 'terminate');
      model.notifyRuns();
    } catch (reason) {
      await showErrorMessage('Cannot terminate the run', reason instanceof DSPError ? reason.message : String(reason));
    }
  };
  const [checked, setChecked] = React.useState<string[]>([]);
  const toggle = (runId: string): void =>
    setChecked(ids => (ids.includes(runId) ? ids.filter(i => i !== runId) : [...ids, runId]));

  React.useEffect(() => {
    let cancelled = false;
    lifecycleOf(model)
      .api.listRuns(space, { pageSize, experimentId: filter.experimentId, showArchived: filter.showArchived })
      .then(page => {
        if (!cancelled) {
          setRuns(page.runs ?? []);
          setTotal(page.total_size ?? (page.runs ?? []).length);
          setError(null);
        }
      })
      .catch(reason => !cancelled && setError(reason instanceof DSPError ? reason.message : String(reason)))
      .finally(() => !cancelled && setLoaded(true));
    return () => {
      cancelled = true;
    };
  }, [model, pageSize, tick, props.refreshKey, space, filter]);
  const experiments = useExperiments(model, space, props.refreshKey + tick);
  const experimentName = new Map(experiments.map(e => [e.experiment_id, e.display_name || e.experiment_id]));
  const archived = (run: IRun): boolean => (run as { storage_state?: string }).storage_state === 'ARCHIVED';
  const visibleChecked = runs.filter(r => checked.includes(r.run_id));

  const anyActive = runs.some(r => isActive(r.state));
  const { visible } = props;
  const wasVisible = React.useRef(visible);
  React.useEffect(() => {
    if (visible && !wasVisible.current) {
      bump();
    }
    wasVisible.current = visible;
  }, [visible]);
  useLive(model, ['runs'], visible && space === 'project', bump);
  React.useEffect(() => {
    if (space === 'project' || !anyActive || error || !visible) {
      return;
    }
    const timer = window.setTimeout(bump, POLL_MS);
    return () => window.clearTimeout(timer);
  }, [anyActive, error, runs, visible, space]);

  return (
    <div className="jp-DSP-runs" data-space={space}>
      <RunsToolbar
        model={model}
        space={space}
        experiments={experiments}
        filter={filter}
        onFilter={f => {
          setFilter(f);
          setChecked([]);
        }}
        selected={visibleChecked.map(r => r.run_id)}
        selectedArchived={visibleChecked.filter(archived).length}
        onDone={failures => {
          setBulkErrors(failures);
          setChecked([]);
          model.notifyRuns();
        }}
      />
      {bulkErrors.length ? <ErrorBox error={`Some runs were refused: ${bulkErrors.join('; ')}`} /> : null}
      {error ? <ErrorBox error={`Cannot list runs: ${error}`} onRetry={bump} /> : null}
      {loaded && !error && runs.length === 0 ? (
        <div className="jp-DSP-empty">
          {filter.experimentId
            ? 'No runs in this experiment.'
            : space === 'local'
              ? 'No local runs yet. Use "Run locally" in a pipeline\'s ▶ run dialog.'
              : 'No runs in this project yet. Start one with the ▶ button of a pipeline.'}
        </div>
      ) : null}
      {props.onCompare && runs.length > 1 ? (
        <div className="jp-DSP-compareBar">
          <button
            className="jp-mod-styled jp-DSP-button"
            data-action="compare"
            disabled={checked.length < 2}
            title={checked.length < 2 ? 'Tick two or more runs to compare them' : 'Compare the ticked runs'}
            onClick={() => props.onCompare?.(runs.filter(r => checked.includes(r.run_id)).map(r => r.run_id))}
          >
            Compare{checked.length ? ` (${checked.length})` : ''}
          </button>
          {checked.length ? (
            <button className="jp-DSP-link" onClick={() => setChecked([])}>
              clear
            </button>
          ) : null}
        </div>
      ) : null}
      <ul className="jp-DSP-runList">
        {runs.map(run => (
          <RunRow key={run.run_id} run={run} onOpen={props.onOpen} archived={archived(run)}>
            {/* selection: compare (results) and bulk archive/delete */}
            <input
              type="checkbox"
              className="jp-DSP-runCheck"
              aria-label="Select for comparison"
              checked={checked.includes(run.run_id)}
              onClick={event => event.stopPropagation()}
              onChange={() => toggle(run.run_id)}
            />
            <StateBadge state={run.state} />
            {archived(run) ? <span className="jp-DSP-tag">archived</span> : null}
            <span className="jp-DSP-row-name" title={run.display_name || run.run_id}>
              {run.display_name || run.run_id}
              {!filter.experimentId && run.experiment_id && experimentName.has(run.experiment_id) ? (
                <span className="jp-DSP-tag jp-DSP-expTag" title="Experiment">
                  {experimentName.get(run.experiment_id)}
                </span>
              ) : null}
            </span>
            <span className="jp-DSP-row-meta" title={formatTime(run.created_at)}>
              {formatDuration(run.created_at, run.finished_at)}
            </span>
            <span className="jp-DSP-row-actions">
              {space !== 'local' ? (
                <UILink href={runLink(model, run.run_id, run.experiment_id)} title="Open the run in the cluster UI" />
              ) : null}
              {isActive(run.state) && run.state !== 'CANCELING' ? (
                <button
                  className="jp-DSP-iconButton"
                  title="Terminate the run"
                  aria-label="Terminate the run"
                  data-action="terminate"
                  onClick={event => {
                    event.stopPropagation();
                    void terminate(run).then(bump);
                  }}
                >
                  <stopIcon.react tag="span" elementSize="small" />
                </button>
              ) : null}
            </span>
          </RunRow>
        ))}
      </ul>
      {total > runs.length ? (
        <button className="jp-DSP-link" onClick={() => setPageSize(s => Math.min(200, s + 20))}>
          Show more runs ({runs.length} of {total})
        </button>
      ) : null}
    </div>
  );
}
