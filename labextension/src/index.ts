/**
 * jupyter-dsp JupyterLab extension: a left side panel for namespaced Kubeflow
 * Pipelines (shared and project pipelines, versions, runs), run views in the
 * main area, and "Upload as pipeline" on pipeline files in the file browser.
 */
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, MainAreaWidget, showErrorMessage, WidgetTracker } from '@jupyterlab/apputils';
import { IFileBrowserFactory } from '@jupyterlab/filebrowser';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { LabIcon } from '@jupyterlab/ui-components';

import { errorText } from './common/api';
import { RunSpace } from './common/lifecycle';
import { DSPModel } from './common/model';
import { IRun } from './common/types';
import { deleteItem, forkPipeline } from './dialogs/actions';
import { IRunDialogResult, runPipeline } from './dialogs/runDialog';
import { fileBlob, PIPELINE_FILE, uploadPipeline } from './dialogs/uploadDialog';
import { createDiffView } from './diff/diff';
import { addNotebookCommands, uploadNotebook } from './notebooks/notebookSteps';
import { DSPPanel } from './panel';
import { setRenderMime } from './results/charts';
import { createCompareView } from './runs/compare';
import { runAgain } from './runs/runAgain';
import { createRunView, RunDetailWidget } from './runs/runview';

const PLUGIN_ID = 'jupyter-dsp:plugin';
const NOTEBOOK_FILE = /\.ipynb$/i; // uploads as a one-step pipeline (notebooks/notebookSteps.ts)

export namespace CommandIDs {
  export const upload = 'jupyter-dsp:upload';
  export const uploadFile = 'jupyter-dsp:upload-file';
  export const openRun = 'jupyter-dsp:open-run';
  export const openPanel = 'jupyter-dsp:open-panel';
  export const compareRuns = 'jupyter-dsp:compare-runs';
}

const PIPELINE_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <rect x="2" y="3" width="8" height="5" rx="1"/>
    <rect x="14" y="9.5" width="8" height="5" rx="1"/>
    <rect x="2" y="16" width="8" height="5" rx="1"/>
    <path d="M10 5.5h2.5a1 1 0 0 1 1 1V10h.5v1h-1.5V6.5H10zM10 18.5h3v-4.5h1v5.5H10z"/>
  </g>
</svg>`;

export const pipelinesIcon = new LabIcon({ name: 'jupyter-dsp:pipelines', svgstr: PIPELINE_SVG });

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Namespaced Kubeflow Pipelines: shared and project pipelines, runs and logs.',
  autoStart: true,
  optional: [IFileBrowserFactory, ICommandPalette, ILayoutRestorer, IRenderMimeRegistry],
  activate: (
    app: JupyterFrontEnd,
    browserFactory: IFileBrowserFactory | null,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null,
    rendermime: IRenderMimeRegistry | null
  ) => {
    const model = new DSPModel();
    setRenderMime(rendermime); // charts in run views use JupyterLab's Vega-Lite renderer
    // Open run views, remembered in the workspace so a reload brings them back.
    const runViews = new WidgetTracker<MainAreaWidget<RunDetailWidget>>({ namespace: 'jupyter-dsp-runs' });

    const onRunMade = (made: IRunDialogResult | null): void => {
      if (made?.kind === 'run') {
        openRun(made.run.run_id, made.space);
      }
    };
    const onRunAgain = (run: IRun, space: RunSpace): void => void runAgain(model, run, space).then(onRunMade);
    const openRun = (runId: string, space: RunSpace = 'project'): void => {
      const existing = runViews.find(view => view.content.runId === runId && view.content.space === space);
      if (existing) {
        app.shell.activateById(existing.id);
        return;
      }
      const view = createRunView(model, runId, space, onRunAgain);
      void runViews.add(view);
      app.shell.add(view, 'main');
      app.shell.activateById(view.id);
    };

    const panel = new DSPPanel(model, {
      actions: {
        run: (space, pipeline, version) => {
          void runPipeline(model, space, pipeline, version).then(onRunMade);
        },
        fork: (pipeline, version, space) => void forkPipeline(model, pipeline, version, space),
        remove: (space, pipeline, version) => void deleteItem(model, space, pipeline, version),
        diff: (space, pipeline) => {
          const view = createDiffView(model, space, pipeline);
          const open = Array.from(app.shell.widgets('main')).find(w => w.id === view.id);
          if (open) {
            view.dispose();
            app.shell.activateById(open.id);
            return;
          }
          app.shell.add(view, 'main');
          app.shell.activateById(view.id);
        }
      },
      upload: () => void app.commands.execute(CommandIDs.upload),
      openRun,
      compare: runIds => void app.commands.execute(CommandIDs.compareRuns, { runIds })
    });
    panel.title.icon = pipelinesIcon;
    panel.title.caption = 'Pipelines (Kubeflow)';
    app.shell.add(panel, 'left', { rank: 650 });
    restorer?.add(panel, 'jupyter-dsp-panel');
    if (restorer) {
      void restorer.restore(runViews, {
        command: CommandIDs.openRun,
        args: view => ({ runId: view.content.runId, space: view.content.space }),
        name: view => (view.content.space === 'local' ? `local:${view.content.runId}` : view.content.runId)
      });
    }

    const openPanel = (): void => {
      app.shell.activateById(panel.id);
    };

    app.commands.addCommand(CommandIDs.openPanel, {
      label: 'Show Pipelines Panel',
      execute: openPanel
    });

    app.commands.addCommand(CommandIDs.upload, {
      label: 'Upload Pipeline…',
      caption: 'Upload a compiled pipeline file to the project or the shared space',
      icon: pipelinesIcon,
      execute: async () => {
        if (!model.info) {
          await model.refreshInfo();
        }
        if (!model.info) {
          await showErrorMessage('Pipelines are not available', model.infoError ?? 'No connection');
          return;
        }
        const space = await uploadPipeline(model, null);
        if (space) {
          openPanel();
        }
      }
    });

    const selectedPipelineFile = (): string | null => {
      const browser = browserFactory?.tracker.currentWidget;
      if (!browser) {
        return null;
      }
      const first = browser.selectedItems().next();
      if (first.done || !first.value) {
        return null;
      }
      const item = first.value;
      if (item.type === 'directory' || !(PIPELINE_FILE.test(item.path) || NOTEBOOK_FILE.test(item.path))) {
        return null;
      }
      return item.path;
    };

    app.commands.addCommand(CommandIDs.uploadFile, {
      label: 'Upload as Pipeline…',
      caption: 'Upload this compiled pipeline (or this notebook, as a one-step pipeline) to Kubeflow Pipelines',
      icon: pipelinesIcon,
      isVisible: () => selectedPipelineFile() !== null,
      execute: async args => {
        const path = (args.path as string | undefined) ?? selectedPipelineFile();
        if (!path) {
          return;
        }
        if (!model.info) {
          await model.refreshInfo();
        }
        if (!model.info) {
          await showErrorMessage('Pipelines are not available', model.infoError ?? 'No connection');
          return;
        }
        if (NOTEBOOK_FILE.test(path)) {
          if (await uploadNotebook(model, path)) {
            openPanel();
          }
          return;
        }
        let blob: Blob;
        try {
          const file = await app.serviceManager.contents.get(path, { type: 'file', content: true });
          blob = fileBlob(file.content as string, file.format, file.mimetype);
        } catch (reason) {
          await showErrorMessage(
            `Cannot read ${path}`,
            errorText(reason)
          );
          return;
        }
        const space = await uploadPipeline(model, { blob, name: path.split('/').pop() ?? path });
        if (space) {
          openPanel();
        }
      }
    });

    app.commands.addCommand(CommandIDs.openRun, {
      label: 'Open Pipeline Run',
      execute: args => {
        const runId = args.runId as string | undefined;
        if (runId) {
          openRun(runId, args.space === 'local' ? 'local' : 'project');
        }
      }
    });

    app.commands.addCommand(CommandIDs.compareRuns, {
      label: 'Compare Pipeline Runs',
      execute: args => {
        const runIds = (args.runIds as string[] | undefined) ?? [];
        if (runIds.length < 2) {
          void showErrorMessage('Compare runs', 'Tick two or more runs in the Pipelines panel to compare them.');
          return;
        }
        const view = createCompareView(model, runIds);
        const existing = app.shell.widgets('main');
        for (const w of existing) {
          if (w.id === view.id) {
            app.shell.activateById(w.id);
            view.dispose();
            return;
          }
        }
        app.shell.add(view, 'main');
        app.shell.activateById(view.id);
      }
    });

    addNotebookCommands(app, { model, browserFactory, icon: pipelinesIcon, onRunMade, openPanel });

    app.contextMenu.addItem({
      command: CommandIDs.uploadFile,
      selector: '.jp-DirListing-item[data-isdir="false"]',
      rank: 12
    });

    if (palette) {
      palette.addItem({ command: CommandIDs.upload, category: 'Pipelines' });
      palette.addItem({ command: CommandIDs.openPanel, category: 'Pipelines' });
    }
  }
};

export default plugin;
