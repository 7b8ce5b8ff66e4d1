/**
 * Upload a pipeline file (.yaml, .yml, .json, .zip, .tar.gz) as a new pipeline
 * or as a new version of an existing one, in the project or, where the policy
 * allows, shared with all projects.
 */
import { Dialog, Notification, showDialog } from '@jupyterlab/apputils';
import { ReactWidget } from '@jupyterlab/ui-components';
import { IDisposable } from '@lumino/disposable';
import { Message } from '@lumino/messaging';
import * as React from 'react';

import { DSPError } from '../common/api';
import { pipelineLabel } from '../common/format';
import { DSPModel } from '../common/model';
import { IPipeline, SpaceName } from '../common/types';
import { guardAccept } from './guard';
import { useUploadProposals } from './uploadProposals';

export interface IUploadState {
  file: Blob | null;
  fileName: string;
  mode: 'pipeline' | 'version';
  name: string;
  description: string;
  share: boolean;
  pipelineId: string;
  pipelineLabel: string;
}

export const PIPELINE_FILE = /\.(ya?ml|json|zip|tar\.gz|tgz)$/i;

/** Name proposed for a file: its base name without the extension. */
export function nameFromFile(fileName: string): string {
  const base = fileName.split('/').pop() ?? fileName;
  return base.replace(PIPELINE_FILE, '');
}

export function validateUpload(state: IUploadState): string[] {
  const problems: string[] = [];
  if (!state.file) {
    problems.push('Choose a pipeline file.');
  } else if (!PIPELINE_FILE.test(state.fileName)) {
    problems.push('The file must be .yaml, .yml, .json, .zip or .tar.gz.');
  }
  if (!state.name.trim()) {
    problems.push(state.mode === 'pipeline' ? 'Give the pipeline a name.' : 'Give the version a name.');
  }
  if (state.mode === 'version' && !state.pipelineId) {
    problems.push('Choose the pipeline this is a new version of.');
  }
  return problems;
}

function PipelinePicker(props: {
  model: DSPModel;
  space: SpaceName;
  value: string;
  valueLabel: string;
  onChange: (id: string, label: string) => void;
}): JSX.Element {
  const [query, setQuery] = React.useState('');
  const [options, setOptions] = React.useState<IPipeline[]>([]);
  const [total, setTotal] = React.useState(0);
  const [error, setError] = React.useState<string | null>(null);
  React.useEffect(() => {
    let cancelled = false;
    const timer = window.setTimeout(() => {
      props.model.client
        .listPipelines(props.space, { nameContains: query, pageSize: 50 })
        .then(page => {
          if (!cancelled) {
            setOptions(page.pipelines ?? []);
            setTotal(page.total_size ?? (page.pipelines ?? []).length);
            setError(null);
          }
        })
        .catch(reason => !cancelled && setError(reason instanceof DSPError ? reason.message : String(reason)));
    }, 200);
    return () => {
      cancelled = true;
      window.clearTimeout(timer);
    };
  }, [query, props.space]);
  // the chosen pipeline (proposed by the dialog) is listed even beyond the first page
  const chosen =
    props.value && !options.some(p => p.pipeline_id === props.value) && props.valueLabel.includes(query.trim())
      ? [{ pipeline_id: props.value, display_name: props.valueLabel } as IPipeline]
      : [];
  const listed = chosen.concat(options);
  return (
    <div className="jp-DSP-picker">
      <input
        className="jp-mod-styled jp-DSP-input"
        placeholder="Filter pipelines by name"
        name="pipeline-filter"
        value={query}
        onChange={e => setQuery(e.target.value)}
      />
      <select
        className="jp-mod-styled jp-DSP-input"
        name="pipeline"
        size={5}
        value={props.value}
        onChange={e => {
          const picked = listed.find(p => p.pipeline_id === e.target.value);
          props.onChange(e.target.value, picked ? pipelineLabel(picked) : '');
        }}
      >
        {listed.map(p => (
          <option key={p.pipeline_id} value={p.pipeline_id}>
            {pipelineLabel(p)}
          </option>
        ))}
      </select>
      {error ? <span className="jp-DSP-field-error">{error}</span> : null}
      {!error && listed.length === 0 ? <span className="jp-DSP-field-help">No pipeline matches.</span> : null}
      {total > options.length ? (
        <span className="jp-DSP-field-help">
          Showing {options.length} of {total}; type to narrow.
        </span>
      ) : null}
    </div>
  );
}

function UploadFormView(props: {
  model: DSPModel;
  initial: IUploadState;
  fixedFile: boolean;
  problems: string[];
  onChange: (state: IUploadState) => void;
}): JSX.Element {
  const [state, setState] = React.useState<IUploadState>(props.initial);
  const current = React.useRef(state);
  const update = (patch: Partial<IUploadState>): void => {
    const next = { ...current.current, ...patch };
    current.current = next;
    setState(next);
    props.onChange(next);
  };
  const canShare = props.model.canWrite('shared');
  const space: SpaceName = state.share ? 'shared' : 'project';
  const proposals = useUploadProposals(props.model, space, current, update);
  const modeChoice = (mode: IUploadState['mode'], label: string): JSX.Element => (
    <label className="jp-DSP-radio">
      <input type="radio" name="mode" value={mode} checked={state.mode === mode} onChange={() => proposals.setMode(mode)} />
      {label}
    </label>
  );
  return (
    <form className="jp-DSP-form" onSubmit={e => e.preventDefault()}>
      {props.problems.length ? (
        <ul className="jp-DSP-error" role="alert">
          {props.problems.map(p => (
            <li key={p}>{p}</li>
          ))}
        </ul>
      ) : null}
      <label className="jp-DSP-field">
        <span className="jp-DSP-field-label">File</span>
        {props.fixedFile ? (
          <span className="jp-DSP-file-name">{state.fileName}</span>
        ) : (
          <input
            type="file"
            name="uploadfile"
            accept=".yaml,.yml,.json,.zip,.tar.gz,.tgz"
            onChange={e => {
              const file = e.target.files?.[0] ?? null;
              update({
                file,
                fileName: file?.name ?? '',
                name: state.name || (file && state.mode === 'pipeline' ? nameFromFile(file.name) : state.name)
              });
            }}
          />
        )}
      </label>
      <div className="jp-DSP-field">
        <span className="jp-DSP-field-label">Upload as</span>
        {modeChoice('pipeline', 'a new pipeline')}
        {modeChoice('version', 'a new version of an existing pipeline')}
      </div>
      {canShare ? (
        <label className="jp-DSP-checkbox">
          <input
            type="checkbox"
            name="share"
            checked={state.share}
            onChange={e => update({ share: e.target.checked, pipelineId: '', pipelineLabel: '' })}
          />
          Share with all projects
        </label>
      ) : null}
      {state.mode === 'version' ? (
        <div className="jp-DSP-field">
          <span className="jp-DSP-field-label">
            Pipeline ({space === 'shared' ? 'shared' : 'project'}) <span className="jp-DSP-required">*</span>
          </span>
          <PipelinePicker
            model={props.model}
            space={space}
            value={state.pipelineId}
            valueLabel={state.pipelineLabel}
            onChange={(id, label) => proposals.choosePipeline(id, label)}
          />
        </div>
      ) : null}
      <label className="jp-DSP-field">
        <span className="jp-DSP-field-label">
          {state.mode === 'pipeline' ? 'Pipeline name' : 'Version name'} <span className="jp-DSP-required">*</span>
        </span>
        <input
          className="jp-mod-styled jp-DSP-input"
          name="name"
          value={state.name}
          onChange={e => update({ name: e.target.value })}
        />
      </label>
      <label className="jp-DSP-field">
        <span className="jp-DSP-field-label">Description</span>
        <textarea
          className="jp-mod-styled jp-DSP-input"
          name="description"
          rows={2}
          value={state.description}
          onChange={e => update({ description: e.target.value })}
        />
      </label>
    </form>
  );
}

class UploadForm extends ReactWidget {
  constructor(
    private readonly model: DSPModel,
    public state: IUploadState,
    private readonly fixedFile: boolean,
    private problems: string[]
  ) {
    super();
    this.addClass('jp-DSP-uploadForm');
  }

  getValue(): IUploadState {
    return this.state;
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    this.guard = guardAccept(this, () => {
      this.problems = validateUpload(this.state);
      this.update();
      return this.problems.length === 0;
    });
  }

  protected onBeforeDetach(msg: Message): void {
    this.guard?.dispose();
    this.guard = null;
    super.onBeforeDetach(msg);
  }

  private guard: IDisposable | null = null;

  render(): JSX.Element {
    return (
      <UploadFormView
        model={this.model}
        initial={this.state}
        fixedFile={this.fixedFile}
        problems={this.problems}
        onChange={s => (this.state = s)}
      />
    );
  }
}

/**
 * Ask for the upload's details and upload. `file` comes from the file browser,
 * or is null to let the user pick one. Returns the space uploaded to, or null.
 */
export async function uploadPipeline(
  model: DSPModel,
  file: { blob: Blob; name: string } | null
): Promise<SpaceName | null> {
  let state: IUploadState = {
    file: file?.blob ?? null,
    fileName: file?.name ?? '',
    mode: 'pipeline',
    name: file ? nameFromFile(file.name) : '',
    description: '',
    share: false,
    pipelineId: '',
    pipelineLabel: ''
  };
  let problems: string[] = [];
  for (;;) {
    const form = new UploadForm(model, state, !!file, problems);
    const result = await showDialog<IUploadState>({
      title: 'Upload pipeline',
      body: form,
      buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Upload' })],
      focusNodeSelector: 'input[name="name"]'
    });
    state = form.state;
    if (!result.button.accept) {
      return null;
    }
    problems = validateUpload(state);
    if (problems.length) {
      continue;
    }
    const space: SpaceName = state.share && model.canWrite('shared') ? 'shared' : 'project';
    try {
      await model.client.upload({
        space,
        file: state.file as Blob,
        fileName: state.fileName,
        name: state.name.trim(),
        description: state.description.trim() || undefined,
        pipelineId: state.mode === 'version' ? state.pipelineId : undefined
      });
    } catch (reason) {
      problems = [`Upload failed: ${reason instanceof DSPError ? reason.message : String(reason)}`];
      continue;
    }
    model.notifyPipelines(space);
    model.showSpace(space);
    Notification.success(
      `Uploaded ${state.mode === 'pipeline' ? 'pipeline' : 'a new version of'} "${
        state.mode === 'pipeline' ? state.name.trim() : state.pipelineLabel
      }" to the ${space === 'shared' ? 'shared space' : 'project'}.`,
      { autoClose: 5000 }
    );
    return space;
  }
}

/** Read a file of the Jupyter file browser as a Blob for upload. */
export function fileBlob(content: string, format: string | null | undefined, mimetype?: string | null): Blob {
  if (format === 'base64') {
    const bytes = Uint8Array.from(atob(content.replace(/\s/g, '')), c => c.charCodeAt(0));
    return new Blob([bytes], { type: mimetype || 'application/octet-stream' });
  }
  return new Blob([content], { type: mimetype || 'text/plain' });
}

