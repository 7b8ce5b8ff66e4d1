/**
 * The run dialog's lifecycle fields: the experiment (created when missing), and "when":
 * now, or on a schedule (every N seconds/minutes/hours/days, or a cron expression) with its
 * maximum of concurrent runs and catch-up choice. KFP's own UI asks the same things.
 */
import * as React from 'react';

import { LifecycleClient, RunSpace } from '../common/lifecycle';
import { ITrigger } from '../common/types';

export type IntervalUnit = 'seconds' | 'minutes' | 'hours' | 'days';

export interface IRunExtras {
  experiment: string;
  when: 'now' | 'schedule';
  triggerKind: 'periodic' | 'cron';
  every: string;
  unit: IntervalUnit;
  cron: string;
  maxConcurrency: string;
  catchUp: boolean;
  /** Experiment names offered in the field's list. */
  knownExperiments: string[];
}

export function defaultExtras(experiment = 'Default'): IRunExtras {
  return {
    experiment,
    when: 'now',
    triggerKind: 'periodic',
    every: '1',
    unit: 'hours',
    cron: '0 6 * * *',
    maxConcurrency: '1',
    catchUp: true, // as `%dsp schedule` (KFP's own default)
    knownExperiments: []
  };
}

/** The run dialog's extra fields, with the known experiments (and the given one's name). */
export async function initialExtras(api: LifecycleClient, space: RunSpace, experimentId?: string): Promise<IRunExtras> {
  const extras = defaultExtras();
  try {
    const page = await api.listExperiments(space);
    const experiments = (page.experiments ?? []).filter(e => e.storage_state !== 'ARCHIVED');
    extras.knownExperiments = experiments.map(e => e.display_name ?? e.experiment_id);
    const match = experimentId ? (page.experiments ?? []).find(e => e.experiment_id === experimentId) : undefined;
    if (match?.display_name) {
      extras.experiment = match.display_name;
    }
  } catch {
    // no list: the field still takes a name (created when missing)
  }
  return extras;
}

const SHORT_INPUT = 'jp-mod-styled jp-DSP-input jp-DSP-short';
const UNIT_SECONDS: Record<IntervalUnit, number> = { seconds: 1, minutes: 60, hours: 3600, days: 86400 };
const CRON_FIELD = /^[\d*/,?LW#A-Za-z-]+$/;

/** Problems with the extra fields, by field name (empty when all is well). */
export function extrasErrors(extras: IRunExtras): Record<string, string> {
  const errors: Record<string, string> = {};
  if (!extras.experiment.trim()) {
    errors['__experiment__'] = 'Name an experiment (it is created when missing)';
  }
  if (extras.when !== 'schedule') {
    return errors;
  }
  if (extras.triggerKind === 'periodic') {
    const n = Number(extras.every.trim());
    if (!/^\d+$/.test(extras.every.trim()) || !Number.isInteger(n) || n < 1) {
      errors['__every__'] = 'Give a whole number of 1 or more';
    }
  } else {
    const fields = extras.cron.trim().split(/\s+/).filter(Boolean);
    if (fields.length < 5 || fields.length > 6 || !fields.every(f => CRON_FIELD.test(f))) {
      errors['__cron__'] = 'A cron expression has 5 fields (or 6 with seconds), e.g. 0 6 * * *';
    }
  }
  const c = Number(extras.maxConcurrency.trim());
  if (!/^\d+$/.test(extras.maxConcurrency.trim()) || c < 1 || c > 10) {
    errors['__concurrency__'] = 'Between 1 and 10';
  }
  return errors;
}

export function triggerOf(extras: IRunExtras): ITrigger {
  if (extras.triggerKind === 'cron') {
    // KFP reads six fields, seconds first: a Unix cron of five fields fires at second 0
    // (as %dsp schedule converts it), so "0 6 * * *" is 06:00 daily on every stack.
    const fields = extras.cron.trim().split(/\s+/);
    return { cron_schedule: { cron: (fields.length === 5 ? ['0', ...fields] : fields).join(' ') } };
  }
  return { periodic_schedule: { interval_second: String(Number(extras.every) * UNIT_SECONDS[extras.unit]) } };
}

export function RunExtrasFields(props: {
  extras: IRunExtras;
  errors: Record<string, string>;
  show: (key: string) => string | null;
  onChange: (patch: Partial<IRunExtras>, key: string) => void;
  /** Scheduling is offered (project runs of a stored version or spec). */
  canSchedule: boolean;
}): JSX.Element {
  const { extras, show, onChange } = props;
  const err = (key: string): JSX.Element | null =>
    show(key) ? <span className="jp-DSP-field-error">{show(key)}</span> : null;
  /** A text field of the extras; its name is also the key of its error. */
  const textInput = (
    name: string,
    field: 'experiment' | 'every' | 'cron' | 'maxConcurrency',
    attrs: React.InputHTMLAttributes<HTMLInputElement> = {}
  ): JSX.Element => (
    <input
      className="jp-mod-styled jp-DSP-input"
      {...attrs}
      name={name}
      value={extras[field]}
      onChange={e => onChange({ [field]: e.target.value } as Partial<IRunExtras>, name)}
    />
  );
  const whenChoice = (when: IRunExtras['when'], label: string): JSX.Element => (
    <label>
      <input
        type="radio"
        name="__when__"
        value={when}
        checked={extras.when === when}
        onChange={() => onChange({ when }, '__when__')}
      />{' '}
      {label}
    </label>
  );
  return (
    <div className="jp-DSP-runExtras">
      <label className="jp-DSP-field">
        <span className="jp-DSP-field-label">
          Experiment <span className="jp-DSP-required">*</span>
        </span>
        {textInput('__experiment__', 'experiment', { list: 'jp-DSP-experiments' })}
        <datalist id="jp-DSP-experiments">
          {extras.knownExperiments.map(name => (
            <option key={name} value={name} />
          ))}
        </datalist>
        {err('__experiment__')}
      </label>
      {props.canSchedule ? (
        <fieldset className="jp-DSP-when">
          <legend className="jp-DSP-field-label">When</legend>
          {whenChoice('now', 'Run once, now')}
          {whenChoice('schedule', 'On a schedule (recurring run)')}
          {extras.when === 'schedule' ? (
            <div className="jp-DSP-schedule-fields">
              <label className="jp-DSP-inline">
                <select
                  className="jp-mod-styled"
                  name="__trigger__"
                  value={extras.triggerKind}
                  onChange={e => onChange({ triggerKind: e.target.value as 'periodic' | 'cron' }, '__trigger__')}
                >
                  <option value="periodic">Every</option>
                  <option value="cron">Cron</option>
                </select>
                {extras.triggerKind === 'periodic' ? (
                  <>
                    {textInput('__every__', 'every', { className: SHORT_INPUT, inputMode: 'numeric' })}
                    <select
                      className="jp-mod-styled"
                      name="__unit__"
                      value={extras.unit}
                      onChange={e => onChange({ unit: e.target.value as IntervalUnit }, '__unit__')}
                    >
                      {Object.keys(UNIT_SECONDS).map(u => (
                        <option key={u} value={u}>
                          {u}
                        </option>
                      ))}
                    </select>
                  </>
                ) : (
                  textInput('__cron__', 'cron', { placeholder: '0 6 * * *' })
                )}
              </label>
              {err('__every__')}
              {err('__cron__')}
              <label className="jp-DSP-inline">
                <span className="jp-DSP-field-label">Max concurrent runs</span>
                {textInput('__concurrency__', 'maxConcurrency', { className: SHORT_INPUT, inputMode: 'numeric' })}
              </label>
              {err('__concurrency__')}
              <label className="jp-DSP-inline">
                <input
                  type="checkbox"
                  name="__catchup__"
                  checked={extras.catchUp}
                  onChange={e => onChange({ catchUp: e.target.checked }, '__catchup__')}
                />{' '}
                Catch up on missed firings (after a pause or restart)
              </label>
            </div>
          ) : null}
        </fieldset>
      ) : null}
    </div>
  );
}
