/**
 * "Open in JupyterLab" on an executed notebook artifact (a notebook step's output) in a run
 * view: saved next to the file browser's folder through the contents API, then opened. The
 * notebook commands (notebooks/notebookSteps.ts) set the opener when the plugin starts.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { PathExt } from '@jupyterlab/coreutils';
import { IFileBrowserFactory } from '@jupyterlab/filebrowser';
import * as React from 'react';

import { errorText } from '../common/api';
import { DSPModel } from '../common/model';
import { artifactUrl, IArtifact, ResultsSpace } from './resultsModel';

type Opener = (runId: string, space: ResultsSpace, task: string, artifact: IArtifact) => Promise<void>;
let opener: Opener | null = null;

/**
 * Save an executed notebook artifact next to the file browser's folder
 * (`<task>-executed-<run>.ipynb`) through the contents API and open it.
 */
export function setNotebookOpener(app: JupyterFrontEnd, model: DSPModel, browserFactory: IFileBrowserFactory | null): void {
  opener = async (runId, space, task, artifact) => {
    const response = await model.client.fetch(artifactUrl(model.client.settings, runId, artifact.artifact_id, space));
    const content = JSON.parse(await response.text());
    const folder = browserFactory?.tracker.currentWidget?.model.path ?? '';
    const name = `${(task || 'notebook').replace(/[^\w.-]+/g, '_')}-executed-${runId.slice(0, 8)}.ipynb`;
    const path = PathExt.join(folder, name);
    await app.serviceManager.contents.save(path, { type: 'notebook', format: 'json', content });
    await app.commands.execute('docmanager:open', { path });
  };
}

/** "Open in JupyterLab" on a notebook step's executed notebook. */
export function OpenNotebookButton(props: {
  runId: string;
  space: ResultsSpace;
  task: string;
  artifact: IArtifact;
}): JSX.Element | null {
  const [error, setError] = React.useState<string | null>(null);
  if (!opener || props.artifact.name !== 'executed_notebook' || !props.artifact.artifact_id) {
    return null;
  }
  const open = opener;
  return (
    <>
      <button
        className="jp-DSP-link jp-DSP-openNotebook"
        data-action="open-notebook"
        onClick={() => void open(props.runId, props.space, props.task, props.artifact).catch(r => setError(errorText(r)))}
      >
        Open in JupyterLab
      </button>
      {error ? <span className="jp-DSP-field-error">Cannot open the notebook: {error}</span> : null}
    </>
  );
}
