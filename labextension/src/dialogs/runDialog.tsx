/**
 * "Run" a pipeline version: a form built from the version's root input
 * definitions (a fitting field per type, defaults filled, required marked),
 * validated before the run is created in the project.
 */
import { Dialog, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import { ReactWidget } from '@jupyterlab/ui-components';
import { IDisposable } from '@lumino/disposable';
import { Message } from '@lumino/messaging';
import * as React from 'react';

import { DSPError } from '../common/api';
import { pipelineLabel, readableRunName } from '../common/format';
import { IRecurringRun, lifecycleOf, RunSpace, triggerText } from '../common/lifecycle';
import { DSPModel } from '../common/model';
import { IInputField, parseInput, rootArtifactInputs, rootInputs } from '../common/spec';
import { IPipeline, IPipelineVersion, IRun, SpaceName } from '../common/types';
import { guardAccept } from './guard';
import { extrasErrors, initialExtras, IRunExtras, RunExtrasFields, triggerOf } from './runExtras';

export interface IRunFormValue {
  displayName: string;
  parameters: Record<string, unknown>;
  errors: Record<string, string>;
}

const TYPE_LABEL: Record<string, string> = {
  STRING: 'string',
  NUMBER_INTEGER: 'integer',
  NUMBER_DOUBLE: 'number',
  BOOLEAN: 'boolean',
  LIST: 'JSON list',
  STRUCT: 'JSON object'
};

/** The form's fields and their current text; re-rendered on every change. */
export class RunForm extends ReactWidget {
  constructor(
    readonly fields: IInputField[],
    private texts: Record<string, string>,
    private displayName: string,
    private showErrors: boolean,
    private readonly artifactInputs: string[],
    private readonly versionLabel: string,
    readonly extras: IRunExtras,
    private readonly canSchedule: boolean = false
  ) {
    super();
    this.addClass('jp-DSP-runForm');
  }

  getValue(): IRunFormValue {
    const parameters: Record<string, unknown> = {};
    const errors: Record<string, string> = {};
    for (const field of this.fields) {
      const result = parseInput(field, this.texts[field.name] ?? '');
      if (!result.ok) {
        errors[field.name] = result.error;
      } else if (!result.omit) {
        parameters[field.name] = result.value;
      }
    }
    if (!this.displayName.trim()) {
      errors['__name__'] = 'Give the run a name';
    }
    Object.assign(errors, extrasErrors(this.extras));
    return { displayName: this.displayName.trim(), parameters, errors };
  }

  get currentTexts(): Record<string, string> {
    return this.texts;
  }

  get currentName(): string {
    return this.displayName;
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    this.guard = guardAccept(this, () => {
      this.showErrors = true;
      this.update();
      return Object.keys(this.getValue().errors).length === 0;
    });
  }

  protected onBeforeDetach(msg: Message): void {
    this.guard?.dispose();
    this.guard = null;
    super.onBeforeDetach(msg);
  }

  private set(name: string, value: string): void {
    this.texts = { ...this.texts, [name]: value };
    this.update();
  }

  render(): JSX.Element {
    const { errors } = this.getValue();
    const show = (key: string): string | null => (this.showErrors || this.touched.has(key) ? errors[key] ?? null : null);
    return (
      <form className="jp-DSP-form" onSubmit={e => e.preventDefault()}>
        <div className="jp-DSP-form-note">Version: {this.versionLabel}</div>
        <label className="jp-DSP-field">
          <span className="jp-DSP-field-label">
            Run name <span className="jp-DSP-required">*</span>
          </span>
          <input
            className="jp-mod-styled jp-DSP-input"
            name="__name__"
            value={this.displayName}
            onChange={e => {
              this.displayName = e.target.value;
              this.touched.add('__name__');
              this.update();
            }}
          />
          {show('__name__') ? <span className="jp-DSP-field-error">{show('__name__')}</span> : null}
        </label>
        <RunExtrasFields
          extras={this.extras}
          errors={errors}
          show={show}
          canSchedule={this.canSchedule}
          onChange={(patch, key) => {
            Object.assign(this.extras, patch);
            this.touched.add(key);
            this.update();
          }}
        />
        {this.fields.length === 0 ? (
          <div className="jp-DSP-form-note">This pipeline takes no parameters.</div>
        ) : null}
        {this.fields.map(field => {
          const error = show(field.name);
          const value = this.texts[field.name] ?? '';
          const onChange = (text: string): void => {
            this.touched.add(field.name);
            this.set(field.name, text);
          };
          let input: JSX.Element;
          if (field.type === 'BOOLEAN') {
            input = (
              <select
                className="jp-mod-styled jp-DSP-input"
                name={field.name}
                value={value}
                onChange={e => onChange(e.target.value)}
              >
                {field.required && value === '' ? <option value="">Choose…</option> : null}
                {!field.required ? <option value="">(not set)</option> : null}
                <option value="true">true</option>
                <option value="false">false</option>
              </select>
            );
          } else if (field.type === 'LIST' || field.type === 'STRUCT') {
            input = (
              <textarea
                className="jp-mod-styled jp-DSP-input"
                name={field.name}
                rows={3}
                value={value}
                placeholder={field.type === 'LIST' ? '[ ]' : '{ }'}
                onChange={e => onChange(e.target.value)}
              />
            );
          } else {
            const numeric = field.type === 'NUMBER_INTEGER' || field.type === 'NUMBER_DOUBLE';
            input = (
              <input
                className="jp-mod-styled jp-DSP-input"
                name={field.name}
                type="text"
                inputMode={numeric ? (field.type === 'NUMBER_INTEGER' ? 'numeric' : 'decimal') : undefined}
                value={value}
                onChange={e => onChange(e.target.value)}
              />
            );
          }
          return (
            <label className="jp-DSP-field" key={field.name} data-param={field.name}>
              <span className="jp-DSP-field-label">
                {field.name}
                {field.required ? <span className="jp-DSP-required"> *</span> : null}
                <span className="jp-DSP-field-type"> {TYPE_LABEL[field.type] ?? field.type}</span>
              </span>
              {input}
              {field.description ? <span className="jp-DSP-field-help">{field.description}</span> : null}
              {error ? <span className="jp-DSP-field-error">{error}</span> : null}
            </label>
          );
        })}
        {this.artifactInputs.length ? (
          <div className="jp-DSP-form-note jp-DSP-warning">
            This pipeline also takes artifact inputs ({this.artifactInputs.join(', ')}) that a run from the panel
            cannot provide.
          </div>
        ) : null}
      </form>
    );
  }

  private touched = new Set<string>();
  private guard: IDisposable | null = null;
}


async function resolveVersion(
  model: DSPModel,
  space: SpaceName,
  pipeline: IPipeline,
  version?: IPipelineVersion
): Promise<IPipelineVersion | null> {
  // versions from a list carry no spec (the proxy leaves them out): read this one by id
  if (version?.pipeline_spec) {
    return version;
  }
  if (version) {
    return model.client.getVersion(space, pipeline.pipeline_id, version.pipeline_version_id);
  }
  return model.client.latestVersion(space, pipeline.pipeline_id);
}

/** What the dialog made: a run (in the project or the local space) or a schedule. */
export type IRunDialogResult =
  | { kind: 'run'; space: RunSpace; run: IRun }
  | { kind: 'schedule'; schedule: IRecurringRun };

export interface IRunDialogOptions {
  /** Values to start from ("Run again"): parameter values, run name, experiment id. */
  parameters?: Record<string, unknown>;
  displayName?: string;
  experimentId?: string;
  /** Where the run being repeated ran; "local" runs again locally. */
  runSpace?: RunSpace;
  /** The spec is not a stored version (a run of an inline spec): send it inline. */
  inlineSpec?: boolean;
}

const RUN_LOCALLY = 'Run locally';

function textOf(value: unknown): string {
  if (value === undefined || value === null) {
    return '';
  }
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/**
 * Show the run dialog for a version (the latest one when none is given) and create the run,
 * the local run ("Run locally", in cluster modes) or the schedule. Returns what was made, or
 * null when cancelled or refused (refusals are shown to the user).
 */
export async function runPipeline(
  model: DSPModel,
  space: SpaceName,
  pipeline: IPipeline,
  version?: IPipelineVersion,
  options: IRunDialogOptions = {}
): Promise<IRunDialogResult | null> {
  let full: IPipelineVersion | null;
  try {
    full = await resolveVersion(model, space, pipeline, version);
  } catch (reason) {
    await showErrorMessage('Cannot read the pipeline version', String((reason as Error).message ?? reason));
    return null;
  }
  if (!full) {
    await showErrorMessage('Nothing to run', `Pipeline "${pipelineLabel(pipeline)}" has no versions yet.`);
    return null;
  }
  const lifecycle = lifecycleOf(model);
  const fields = rootInputs(full.pipeline_spec);
  const given = options.parameters ?? {};
  let texts: Record<string, string> = Object.fromEntries(
    fields.map(f => [f.name, f.name in given ? textOf(given[f.name]) : f.defaultText])
  );
  const defaultName = readableRunName(pipelineLabel(pipeline));
  let name = options.displayName ?? defaultName;
  let showErrors = false;
  const versionLabel = options.inlineSpec
    ? 'the spec of the run'
    : pipelineLabel({ ...full, pipeline_id: full.pipeline_version_id });
  const local = model.info?.mode !== undefined && model.info.mode !== 'embedded';
  const onlyLocal = options.runSpace === 'local' && local;
  const extras = await initialExtras(lifecycle.api, onlyLocal ? 'local' : 'project', options.experimentId);
  const canSchedule = !onlyLocal;
  for (;;) {
    const form = new RunForm(
      fields,
      texts,
      name,
      showErrors,
      rootArtifactInputs(full.pipeline_spec),
      versionLabel,
      extras,
      canSchedule
    );
    const buttons = [Dialog.cancelButton()];
    if (local && !onlyLocal) {
      buttons.push(
        Dialog.createButton({
          label: RUN_LOCALLY,
          caption: 'Run on this workbench (the cluster is not used)',
          className: 'jp-DSP-runLocal',
          accept: false
        })
      );
    }
    buttons.push(Dialog.okButton({ label: onlyLocal ? 'Run locally again' : 'Start' }));
    const result = await showDialog<IRunFormValue>({
      title: `Run ${pipelineLabel(pipeline)}`,
      body: form,
      buttons,
      focusNodeSelector: 'input'
    });
    texts = form.currentTexts;
    name = form.currentName;
    const toLocal = onlyLocal || result.button.label === RUN_LOCALLY;
    const value = result.button.accept ? result.value : result.button.label === RUN_LOCALLY ? form.getValue() : null;
    if (!value) {
      return null;
    }
    if (Object.keys(value.errors).length) {
      showErrors = true;
      continue;
    }
    if (toLocal && extras.when === 'schedule') {
      await showErrorMessage(
        'Schedules run on the cluster',
        'A schedule is a recurring run of the project\'s stack. To try the pipeline on this workbench, ' +
          'choose "Run once, now" and then Run locally.'
      );
      continue;
    }
    const byReference = !options.inlineSpec && (space === 'project' || model.sharedOnProjectStack);
    const source: Partial<IRun> = byReference
      ? {
          pipeline_version_reference: {
            pipeline_id: full.pipeline_id || pipeline.pipeline_id,
            pipeline_version_id: full.pipeline_version_id
          }
        }
      : { pipeline_spec: full.pipeline_spec }; // another stack cannot resolve these ids
    try {
      if (!toLocal && extras.when === 'schedule') {
        // a schedule keeps a name typed for it; by default it is named for its pipeline and
        // trigger (`my-pipeline · every hour`), as %dsp schedule names it
        const scheduleName =
          value.displayName === defaultName
            ? `${pipelineLabel(pipeline)} · ${triggerText(triggerOf(extras))}`
            : value.displayName;
        const schedule = await lifecycle.api.createRecurringRun({
          display_name: scheduleName,
          ...source,
          runtime_config: { parameters: value.parameters },
          experiment_id: await lifecycle.api.experimentId('project', extras.experiment.trim()),
          trigger: triggerOf(extras),
          max_concurrency: extras.maxConcurrency.trim(),
          no_catchup: !extras.catchUp,
          mode: 'ENABLE'
        });
        model.notifyRuns();
        return { kind: 'schedule', schedule };
      }
      const target: RunSpace = toLocal ? 'local' : 'project';
      const run: Partial<IRun> = {
        display_name: value.displayName,
        runtime_config: { parameters: value.parameters },
        // the local stack has none of the cluster's pipelines: it gets the spec itself
        ...(toLocal ? { pipeline_spec: full.pipeline_spec } : source),
        experiment_id: await lifecycle.api.experimentId(target, extras.experiment.trim())
      };
      const created = await lifecycle.api.createRun(target, run);
      model.notifyRuns();
      return { kind: 'run', space: target, run: created };
    } catch (reason) {
      const what = extras.when === 'schedule' && !toLocal ? 'the schedule' : toLocal ? 'the local run' : 'the run';
      await showErrorMessage(`Cannot start ${what}`, reason instanceof DSPError ? reason.message : String(reason));
      showErrors = true; // back to the form, values kept, to fix what was refused
    }
  }
}
