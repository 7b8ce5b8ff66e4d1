/**
 * A run's results document (`dsp/results/{run}`), artifact reads (`dsp/artifacts/{run}/{id}`)
 * and the Vega-Lite v5 specs of its charts: the same specs as the kernel's
 * jupyter_dsp/client/charts.py builds, one spec per chart.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { DSPError, errorMessage } from '../common/api';
import { formatValue } from '../common/format';

export const VEGALITE_MIME = 'application/vnd.vegalite.v5+json';
const SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json';
const BLUE = '#1565c0';

export type ResultsSpace = 'project' | 'local';

export interface IArtifact {
  artifact_id: string;
  name: string;
  type: string;
  uri: string;
  metadata: Record<string, any>;
  size: number | null;
}

export interface IIO {
  parameters: Record<string, unknown>;
  artifacts: Record<string, IArtifact[]>;
}

export interface ITaskResult {
  task_id: string;
  name: string;
  display_name: string;
  state: string;
  parent_task_id: string;
  iteration_index: number | null;
  cached: boolean;
  inputs: IIO;
  outputs: IIO;
}

export interface IResults {
  run_id: string;
  state: string;
  source: 'stack' | 'mlmd';
  ui_url: string | null;
  unavailable: string | null;
  pipeline_outputs: IIO;
  tasks: ITaskResult[];
}

async function request(settings: ServerConnection.ISettings, url: string, init: RequestInit = {}): Promise<Response> {
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, { cache: 'no-cache', ...init }, settings);
  } catch (reason) {
    throw new DSPError(`Cannot reach the Jupyter server: ${String(reason)}`, 0);
  }
  if (!response.ok && response.status !== 206) {
    const body = await response.text().catch(() => '');
    throw new DSPError(errorMessage(response.status, response.statusText, body), response.status, body);
  }
  return response;
}

function spaceQuery(space: ResultsSpace): string {
  return space === 'project' ? '' : `?space=${space}`;
}

export function resultsUrl(settings: ServerConnection.ISettings, runId: string, space: ResultsSpace = 'project'): string {
  return URLExt.join(settings.baseUrl, 'dsp', 'results', encodeURIComponent(runId)) + spaceQuery(space);
}

export function artifactUrl(
  settings: ServerConnection.ISettings,
  runId: string,
  artifactId: string,
  space: ResultsSpace = 'project'
): string {
  return (
    URLExt.join(settings.baseUrl, 'dsp', 'artifacts', encodeURIComponent(runId), encodeURIComponent(artifactId)) +
    spaceQuery(space)
  );
}

export async function fetchResults(
  settings: ServerConnection.ISettings,
  runId: string,
  space: ResultsSpace = 'project'
): Promise<IResults> {
  const response = await request(settings, resultsUrl(settings, runId, space));
  return normalize((await response.json()) as IResults);
}

/** The first `maxBytes` of an artifact (a Range read), as text. */
export async function readArtifactText(
  settings: ServerConnection.ISettings,
  runId: string,
  artifactId: string,
  maxBytes = 256 * 1024,
  space: ResultsSpace = 'project'
): Promise<{ text: string; truncated: boolean }> {
  const response = await request(settings, artifactUrl(settings, runId, artifactId, space), {
    headers: { Range: `bytes=0-${maxBytes - 1}` }
  });
  const buffer = await response.arrayBuffer();
  const total = Number((response.headers.get('Content-Range') ?? '').split('/')[1]);
  const truncated = response.status === 206 && Number.isFinite(total) && total > buffer.byteLength;
  return { text: new TextDecoder('utf-8').decode(buffer), truncated };
}

function normalizeIO(io: Partial<IIO> | undefined): IIO {
  return { parameters: io?.parameters ?? {}, artifacts: io?.artifacts ?? {} };
}

export function normalize(doc: IResults): IResults {
  const tasks = (doc.tasks ?? []).map(t => ({ ...t, inputs: normalizeIO(t.inputs), outputs: normalizeIO(t.outputs) }));
  // a loop's iterations in order, where the engine listed them as they ended (as in Python)
  const first = new Map<string, number>();
  tasks.forEach((t, i) => {
    const name = t.display_name || t.name;
    if (!first.has(name)) {
      first.set(name, i);
    }
  });
  const place = (t: ITaskResult): number => first.get(t.display_name || t.name) ?? 0;
  tasks.sort((a, b) => place(a) - place(b) || (a.iteration_index ?? 0) - (b.iteration_index ?? 0));
  return { ...doc, pipeline_outputs: normalizeIO(doc.pipeline_outputs), tasks };
}

/** `score-fold[2]` for a loop iteration, else the display name. */
export function taskLabel(task: ITaskResult): string {
  const name = task.display_name || task.name || task.task_id;
  const index = task.iteration_index;
  if (index === null || index === undefined || name.endsWith(`#${index}`)) {
    return name; // the engine names a loop's iteration DAG "folds #2" already
  }
  return `${name}[${index}]`;
}

export function allArtifacts(io: IIO): IArtifact[] {
  return Object.values(io.artifacts).flat();
}

export function hasOutputs(task: ITaskResult): boolean {
  return Object.keys(task.outputs.parameters).length > 0 || allArtifacts(task.outputs).length > 0;
}

/** Numeric entries of a `system.Metrics` artifact's metadata. */
export function scalarMetrics(artifact: IArtifact): Record<string, number> {
  const found: Record<string, number> = {};
  if (artifact.type !== 'system.Metrics') {
    return found;
  }
  for (const [key, value] of Object.entries(artifact.metadata ?? {})) {
    if (typeof value === 'number' && Number.isFinite(value)) {
      found[key] = value;
    }
  }
  return found;
}

/** Every scalar metric of the run: `task.metric` -> number (as RunResults.metrics in Python). */
export function runMetrics(doc: IResults): Record<string, number> {
  const found: Record<string, number> = {};
  for (const task of doc.tasks) {
    for (const artifact of allArtifacts(task.outputs)) {
      for (const [name, value] of Object.entries(scalarMetrics(artifact))) {
        found[`${taskLabel(task)}.${name}`] = value;
      }
    }
  }
  for (const artifact of allArtifacts(doc.pipeline_outputs)) {
    Object.assign(found, scalarMetrics(artifact));
  }
  return found;
}

export function valueText(value: unknown): string {
  return formatValue(value); // numbers at a readable precision (common/format.ts)
}

export function humanSize(size: number | null | undefined): string {
  if (size === null || size === undefined) {
    return '-';
  }
  const units = ['B', 'KB', 'MB', 'GB'];
  let value = size;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

// ---- Vega-Lite specs (mirrors jupyter_dsp/client/charts.py) -----------------------------------

export function metricsBarSpec(metrics: Record<string, number>, title: string): Record<string, any> {
  return {
    $schema: SCHEMA,
    title,
    data: { values: Object.entries(metrics).map(([metric, value]) => ({ metric, value })) },
    width: 320,
    height: { step: 22 },
    encoding: {
      y: { field: 'metric', type: 'nominal', sort: null, title: null },
      x: { field: 'value', type: 'quantitative', title: 'value' }
    },
    layer: [
      { mark: { type: 'bar', color: BLUE } },
      {
        mark: { type: 'text', align: 'left', dx: 3 },
        encoding: { text: { field: 'value', type: 'quantitative', format: '.4~g' } }
      }
    ]
  };
}

export function confusionSpec(matrix: any, title: string): Record<string, any> {
  const labels: string[] = (matrix?.annotationSpecs ?? []).map((s: any, i: number) => String(s?.displayName ?? i));
  const rows: number[][] = (matrix?.rows ?? []).map((r: any) => (r?.row ?? []).map(Number));
  const values = rows.flatMap((row, i) =>
    row.map((count, j) => ({ actual: labels[i] ?? String(i), predicted: labels[j] ?? String(j), count }))
  );
  const top = Math.max(0, ...values.map(v => v.count));
  const order = labels.length ? labels : null;
  return {
    $schema: SCHEMA,
    title,
    data: { values },
    width: { step: 48 },
    height: { step: 48 },
    encoding: {
      x: { field: 'predicted', type: 'nominal', sort: order, axis: { orient: 'top' } },
      y: { field: 'actual', type: 'nominal', sort: order }
    },
    layer: [
      {
        mark: 'rect',
        encoding: { color: { field: 'count', type: 'quantitative', scale: { scheme: 'blues' }, legend: null } }
      },
      {
        mark: { type: 'text', fontSize: 13 },
        encoding: {
          text: { field: 'count', type: 'quantitative', format: '~g' },
          color: { condition: { test: `datum.count > ${top / 2}`, value: 'white' }, value: 'black' }
        }
      }
    ]
  };
}

export function rocPoints(confidence: any[]): { fpr: number; recall: number; threshold: number }[] {
  return (confidence ?? [])
    .filter(c => Number.isFinite(c?.falsePositiveRate) && Number.isFinite(c?.recall))
    .map(c => ({ fpr: Number(c.falsePositiveRate), recall: Number(c.recall), threshold: Number(c.confidenceThreshold ?? 0) }))
    .sort((a, b) => a.fpr - b.fpr || a.recall - b.recall);
}

export function rocSpec(confidence: any[], title: string): Record<string, any> {
  return {
    $schema: SCHEMA,
    title,
    width: 300,
    height: 300,
    layer: [
      {
        data: { values: [{ fpr: 0, recall: 0 }, { fpr: 1, recall: 1 }] },
        mark: { type: 'line', strokeDash: [4, 4], color: '#9e9e9e' },
        encoding: { x: { field: 'fpr', type: 'quantitative' }, y: { field: 'recall', type: 'quantitative' } }
      },
      {
        data: { values: rocPoints(confidence) },
        mark: { type: 'line', point: true, color: BLUE },
        encoding: {
          x: { field: 'fpr', type: 'quantitative', title: 'false positive rate', scale: { domain: [0, 1] } },
          y: { field: 'recall', type: 'quantitative', title: 'true positive rate (recall)', scale: { domain: [0, 1] } },
          tooltip: [
            { field: 'threshold', type: 'quantitative' },
            { field: 'fpr', type: 'quantitative' },
            { field: 'recall', type: 'quantitative' }
          ]
        }
      }
    ]
  };
}

export function compareMetricSpec(metric: string, values: { run: string; value: number }[]): Record<string, any> {
  return {
    $schema: SCHEMA,
    title: metric,
    data: { values },
    width: 260,
    height: { step: 22 },
    mark: { type: 'bar', color: BLUE },
    encoding: {
      y: { field: 'run', type: 'nominal', sort: null, title: null },
      x: { field: 'value', type: 'quantitative', title: metric },
      tooltip: [{ field: 'run' }, { field: 'value', type: 'quantitative' }]
    }
  };
}

/** Rows of a CSV/TSV text (quotes handled), at most `limit` + 1 with the header. */
export function parseCsv(text: string, limit: number): string[][] {
  const firstLine = text.split('\n', 1)[0] ?? '';
  const sep = firstLine.includes('\t') ? '\t' : ',';
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length && rows.length <= limit; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') {
        quoted = false;
      } else {
        cell += ch;
      }
    } else if (ch === '"') {
      quoted = true;
    } else if (ch === sep) {
      row.push(cell);
      cell = '';
    } else if (ch === '\n') {
      row.push(cell.replace(/\r$/, ''));
      rows.push(row);
      row = [];
      cell = '';
    } else {
      cell += ch;
    }
  }
  if ((cell || row.length) && rows.length <= limit) {
    row.push(cell);
    rows.push(row);
  }
  return rows;
}
