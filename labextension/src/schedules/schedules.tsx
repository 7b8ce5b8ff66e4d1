/**
 * The Schedules section: the project's recurring runs (KFP `recurringruns`) with their
 * trigger, state, next firing time and the runs each made; enable, disable, delete
 * (confirmed). Schedules are created from a pipeline's run dialog ("On a schedule").
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { deleteIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import { errorText } from '../common/api';
import { formatShortTime, formatTime } from '../common/format';
import { IRecurringRun, lifecycleOf, triggerText } from '../common/lifecycle';
import { DSPModel } from '../common/model';
import { IRun } from '../common/types';
import { ErrorBox } from '../components/ErrorBox';
import { RunRow } from '../components/RunRow';
import { StateBadge } from '../components/StateBadge';
import { useLive, useRunsTick } from '../live/useLive';

/** "16:08:12" today, else "2026-11-28 06:00": schedules can fire every few seconds. */
export function fireTime(value: string, now: Date = new Date()): string {
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) {
    return '';
  }
  if (date.toDateString() === now.toDateString()) {
    return date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
  }
  return formatShortTime(value);
}

function ScheduleRuns(props: { model: DSPModel; schedule: IRecurringRun; tick: number; onOpen: (run: IRun) => void }) {
  const { model, schedule } = props;
  const [runs, setRuns] = React.useState<IRun[] | null>(null);
  const [total, setTotal] = React.useState(0);
  const [error, setError] = React.useState<string | null>(null);
  React.useEffect(() => {
    let cancelled = false;
    lifecycleOf(model)
      .api.listRuns('project', { recurringRunId: schedule.recurring_run_id, showArchived: true, pageSize: 10 })
      .then(page => {
        if (!cancelled) {
          setRuns(page.runs ?? []);
          setTotal(page.total_size ?? (page.runs ?? []).length);
          setError(null);
        }
      })
      .catch(reason => !cancelled && setError(errorText(reason)));
    return () => {
      cancelled = true;
    };
  }, [model, schedule.recurring_run_id, props.tick]);
  if (error) {
    return <ErrorBox error={`Cannot list the schedule's runs: ${error}`} />;
  }
  if (runs === null) {
    return <div className="jp-DSP-empty">Loading runs…</div>;
  }
  if (runs.length === 0) {
    return <div className="jp-DSP-empty">No runs yet.</div>;
  }
  return (
    <ul className="jp-DSP-runList jp-DSP-scheduleRuns" aria-label="Runs made by this schedule">
      {runs.map(run => (
        <RunRow key={run.run_id} run={run} onOpen={props.onOpen}>
          <StateBadge state={run.state} />
          <span className="jp-DSP-row-name" title={run.display_name || run.run_id}>
            {run.display_name || run.run_id}
          </span>
          <span className="jp-DSP-row-meta" title={formatTime(run.created_at)}>
            {run.created_at ? fireTime(run.created_at) : ''}
          </span>
        </RunRow>
      ))}
      {total > runs.length ? <li className="jp-DSP-empty">{total - runs.length} older runs not shown</li> : null}
    </ul>
  );
}

export function SchedulesSection(props: {
  model: DSPModel;
  visible: boolean;
  refreshKey: number;
  onOpenRun: (run: IRun) => void;
}): JSX.Element {
  const { model } = props;
  const api = lifecycleOf(model).api;
  const [items, setItems] = React.useState<IRecurringRun[]>([]);
  const [loaded, setLoaded] = React.useState(false);
  const [error, setError] = React.useState<string | null>(null);
  const [actionError, setActionError] = React.useState<string | null>(null);
  const [open, setOpen] = React.useState<string | null>(null);
  const [busy, setBusy] = React.useState<string | null>(null);
  const [tick, bump] = useRunsTick(model);

  React.useEffect(() => {
    let cancelled = false;
    api
      .listRecurringRuns()
      .then(page => {
        if (!cancelled) {
          setItems(page.items);
          setError(null);
        }
      })
      .catch(reason => !cancelled && setError(errorText(reason)))
      .finally(() => !cancelled && setLoaded(true));
    return () => {
      cancelled = true;
    };
  }, [model, tick, props.refreshKey]);

  // live while visible: a schedule changed anywhere, or one fired (a new run)
  useLive(model, ['recurringruns', 'runs'], props.visible, bump);

  const act = async (schedule: IRecurringRun, what: () => Promise<void>): Promise<void> => {
    setBusy(schedule.recurring_run_id);
    setActionError(null);
    try {
      await what();
    } catch (reason) {
      setActionError(`${schedule.display_name || schedule.recurring_run_id}: ${errorText(reason)}`);
    } finally {
      setBusy(null);
      bump();
    }
  };

  const remove = async (schedule: IRecurringRun): Promise<void> => {
    const name = schedule.display_name || schedule.recurring_run_id;
    const answer = await showDialog({
      title: 'Delete schedule',
      body: `Delete the schedule "${name}"? It makes no more runs; the runs it made stay.`,
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
    });
    if (answer.button.accept) {
      await act(schedule, () => api.deleteRecurringRun(schedule.recurring_run_id));
    }
  };

  return (
    <div className="jp-DSP-schedules">
      {error ? <ErrorBox error={`Cannot list schedules: ${error}`} onRetry={bump} /> : null}
      {actionError ? <ErrorBox error={actionError} /> : null}
      {loaded && !error && items.length === 0 ? (
        <div className="jp-DSP-empty">
          No schedules. Create one from a pipeline's ▶ run dialog, "On a schedule".
        </div>
      ) : null}
      <ul className="jp-DSP-scheduleList">
        {items.map(s => {
          const enabled = s.status !== 'DISABLED';
          const id = s.recurring_run_id;
          const next = enabled && s.next_fire_time ? fireTime(s.next_fire_time) : '';
          return (
            <li key={id} className="jp-DSP-schedule" data-schedule-id={id} data-status={s.status ?? ''}>
              <div className="jp-DSP-row" onClick={() => setOpen(o => (o === id ? null : id))} title="Show its runs">
                <span className={`jp-DSP-caret${open === id ? ' jp-mod-open' : ''}`}>▸</span>
                <span className="jp-DSP-row-name" title={s.display_name || id}>
                  {s.display_name || id}
                </span>
                <span className="jp-DSP-row-actions">
                  <button
                    className="jp-DSP-link"
                    data-action={enabled ? 'disable' : 'enable'}
                    disabled={busy === id}
                    onClick={event => {
                      event.stopPropagation();
                      void act(s, () => api.setRecurringRunEnabled(id, !enabled));
                    }}
                  >
                    {enabled ? 'Disable' : 'Enable'}
                  </button>
                  <button
                    className="jp-DSP-iconButton"
                    title="Delete the schedule"
                    aria-label="Delete the schedule"
                    data-action="delete"
                    disabled={busy === id}
                    onClick={event => {
                      event.stopPropagation();
                      void remove(s);
                    }}
                  >
                    <deleteIcon.react tag="span" elementSize="small" />
                  </button>
                </span>
              </div>
              <div className="jp-DSP-schedule-meta">
                <span className={`jp-DSP-badge ${enabled ? 'jp-DSP-state-succeeded' : 'jp-DSP-state-skipped'}`}>
                  {enabled ? 'Enabled' : 'Disabled'}
                </span>{' '}
                <span data-field="trigger">{triggerText(s.trigger)}</span>
                {' · '}
                <span data-field="next" title={formatTime(s.next_fire_time ?? undefined)}>
                  {!enabled
                    ? 'paused'
                    : next
                      ? `next run ${next}`
                      : 'next_fire_time' in s
                        ? 'no further runs'
                        : `created ${formatShortTime(s.created_at)}`}
                </span>
                {s.fired_count !== undefined ? <span> · {s.fired_count} made</span> : null}
                {s.error?.message ? <div className="jp-DSP-field-error">{s.error.message}</div> : null}
              </div>
              {open === id ? <ScheduleRuns model={model} schedule={s} tick={tick} onOpen={props.onOpenRun} /> : null}
            </li>
          );
        })}
      </ul>
    </div>
  );
}
