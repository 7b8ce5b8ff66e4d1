/**
 * Notebooks as pipeline steps in JupyterLab: "Run as Pipeline Step…" on an .ipynb in the file
 * browser, its "Upload as Pipeline…" (the file browser command of index.ts, which calls
 * uploadNotebook for a notebook), and "Open in JupyterLab" on an executed notebook in a run
 * view (results/openNotebook.tsx; its opener is set here).
 *
 * The server compiles the notebook into a one-step pipeline (`POST dsp/notebooks/spec`); the
 * run goes through the panel's own run dialog (an inline spec, the notebook's parameters
 * typed from its `parameters` cell) and the upload through the panel's upload dialog.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { showErrorMessage } from '@jupyterlab/apputils';
import { PathExt } from '@jupyterlab/coreutils';
import { IFileBrowserFactory } from '@jupyterlab/filebrowser';
import { LabIcon } from '@jupyterlab/ui-components';

import { errorText } from '../common/api';
import { DSPModel } from '../common/model';
import { SpaceName } from '../common/types';
import { IRunDialogResult, runPipeline } from '../dialogs/runDialog';
import { uploadPipeline } from '../dialogs/uploadDialog';
import { setNotebookOpener } from '../results/openNotebook';
import { askImage, IRuntimeImage } from './imagePicker';

export namespace NotebookCommandIDs {
  export const runStep = 'jupyter-dsp:run-notebook-step';
}

/** What `dsp/notebooks/spec` answers. */
export interface INotebookSpec {
  name: string;
  file_name: string;
  pipeline_spec: Record<string, any>;
  yaml: string;
  parameters: { name: string; type: string; required: boolean; default?: unknown }[];
  /** The image the step runs on, and the workbench's runtime images to choose from. */
  image?: string;
  runtime_images?: IRuntimeImage[];
}

export async function notebookSpec(model: DSPModel, path: string, image?: string): Promise<INotebookSpec> {
  return model.client.json<INotebookSpec>(model.client.url('notebooks', 'spec'), {
    method: 'POST',
    body: JSON.stringify(image ? { path, image } : { path })
  });
}

/**
 * The notebook's one-step pipeline on the image the user picks (asked only where the
 * workbench offers runtime images), or null after telling the user why not or on Cancel.
 */
async function compiledOrSaid(model: DSPModel, path: string, action: string): Promise<INotebookSpec | null> {
  if (!model.info) {
    await model.refreshInfo();
  }
  if (!model.info) {
    await showErrorMessage('Pipelines are not available', model.infoError ?? 'No connection');
    return null;
  }
  try {
    const spec = await notebookSpec(model, path);
    const chosen = await askImage(spec.file_name, spec.image ?? '', spec.runtime_images ?? [], action);
    if (chosen === undefined) {
      return null;
    }
    const picked = spec.runtime_images?.find(i => i.name === chosen);
    return !picked || picked.image === spec.image ? spec : await notebookSpec(model, path, chosen);
  } catch (reason) {
    await showErrorMessage(`Cannot make a pipeline step of ${PathExt.basename(path)}`, errorText(reason));
    return null;
  }
}

/** "Upload as Pipeline…" of a notebook: its one-step pipeline in the upload dialog. */
export async function uploadNotebook(model: DSPModel, path: string): Promise<SpaceName | null> {
  const spec = await compiledOrSaid(model, path, 'Upload');
  if (!spec) {
    return null;
  }
  const blob = new Blob([spec.yaml], { type: 'application/x-yaml' });
  return uploadPipeline(model, { blob, name: `${spec.name}.yaml` });
}

const NOTEBOOK_SELECTOR = '.jp-DirListing-item[data-file-type="notebook"]';

export interface INotebookCommandOptions {
  model: DSPModel;
  browserFactory: IFileBrowserFactory | null;
  icon: LabIcon;
  onRunMade: (made: IRunDialogResult | null) => void;
  openPanel: () => void;
}

/** Register the file browser's notebook commands and their context menu items. */
export function addNotebookCommands(app: JupyterFrontEnd, options: INotebookCommandOptions): void {
  const { model, browserFactory } = options;
  setNotebookOpener(app, model, browserFactory);

  const selectedNotebook = (): string | null => {
    const browser = browserFactory?.tracker.currentWidget;
    const first = browser?.selectedItems().next();
    if (!first || first.done || !first.value) {
      return null;
    }
    return first.value.type === 'notebook' || first.value.path.endsWith('.ipynb') ? first.value.path : null;
  };

  const compiled = async (args: Record<string, unknown>): Promise<INotebookSpec | null> => {
    const path = (args.path as string | undefined) ?? selectedNotebook();
    return path ? compiledOrSaid(model, path, 'Run') : null;
  };

  app.commands.addCommand(NotebookCommandIDs.runStep, {
    label: 'Run as Pipeline Step…',
    caption: 'Run this notebook as a one-step pipeline, with its parameters',
    icon: options.icon,
    isVisible: () => selectedNotebook() !== null,
    execute: async args => {
      const spec = await compiled(args);
      if (!spec) {
        return;
      }
      const made = await runPipeline(
        model,
        'project',
        { pipeline_id: '', display_name: spec.name },
        { pipeline_id: '', pipeline_version_id: '', display_name: spec.file_name, pipeline_spec: spec.pipeline_spec },
        { inlineSpec: true }
      );
      options.onRunMade(made);
    }
  });

  app.contextMenu.addItem({ command: NotebookCommandIDs.runStep, selector: NOTEBOOK_SELECTOR, rank: 11 });
}
