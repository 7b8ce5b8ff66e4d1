/**
 * A run's results in the run view: pipeline outputs, a table of every metric, and each task's
 * output parameters and artifacts (metrics table and bars, confusion matrix, ROC curve,
 * Markdown, HTML in a sandboxed iframe, dataset rows, download). Charts are Vega-Lite specs
 * shown with JupyterLab's own renderers (IRenderMimeRegistry), like a notebook output.
 */
import * as React from 'react';

import { errorText } from '../common/api';
import { MimeView, VegaChart } from './charts';
import { ErrorBox } from '../components/ErrorBox';
import { StateBadge } from '../components/StateBadge';
import { DSPModel } from '../common/model';
import { OpenNotebookButton } from '../notebooks/notebookSteps';
import { isActive } from '../common/types';
import {
  allArtifacts,
  artifactUrl,
  confusionSpec,
  fetchResults,
  hasOutputs,
  humanSize,
  IArtifact,
  IIO,
  IResults,
  ITaskResult,
  metricsBarSpec,
  parseCsv,
  readArtifactText,
  ResultsSpace,
  rocSpec,
  runMetrics,
  scalarMetrics,
  taskLabel,
  valueText
} from './resultsModel';

export { setRenderMime } from './charts';

/** Tasks shown open at first when the run has at most this many with outputs. */
const OPEN_LIMIT = 12;
/** Rows shown before a "show all" button (tasks with outputs, metrics): big runs open fast. */
const FIRST_ROWS = 40;
const PREVIEW_ROWS = 10;

function ParamsTable(props: { parameters: Record<string, unknown>; title: string }): JSX.Element | null {
  const entries = Object.entries(props.parameters);
  if (!entries.length) {
    return null;
  }
  return (
    <table className="jp-DSP-table jp-DSP-outParams" data-title={props.title}>
      <thead>
        <tr>
          <th>{props.title}</th>
          <th>value</th>
          <th>type</th>
        </tr>
      </thead>
      <tbody>
        {entries.map(([k, v]) => (
          <tr key={k} data-name={k}>
            <th>{k}</th>
            <td>
              <code>{valueText(v)}</code>
            </td>
            <td>{Array.isArray(v) ? 'list' : v === null ? 'null' : typeof v === 'object' ? 'dict' : typeof v}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function ClassificationView(props: { metadata: Record<string, any>; title: string }): JSX.Element {
  const matrix = props.metadata?.confusionMatrix;
  const confidence = props.metadata?.confidenceMetrics;
  return (
    <div className="jp-DSP-chartRow">
      {matrix?.rows?.length ? <VegaChart kind="confusion" spec={confusionSpec(matrix, `${props.title}: confusion matrix`)} /> : null}
      {Array.isArray(confidence) && confidence.length ? (
        <VegaChart kind="roc" spec={rocSpec(confidence, `${props.title}: ROC curve`)} />
      ) : null}
    </div>
  );
}

/** Content of a Markdown, HTML or dataset artifact, read (first 256 KB) when shown. */
function ContentView(props: { model: DSPModel; runId: string; space: ResultsSpace; artifact: IArtifact }): JSX.Element {
  const { artifact } = props;
  const [content, setContent] = React.useState<{ text: string; truncated: boolean } | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  React.useEffect(() => {
    let cancelled = false;
    readArtifactText(props.model.client.settings, props.runId, artifact.artifact_id, 256 * 1024, props.space)
      .then(c => !cancelled && setContent(c))
      .catch(reason => !cancelled && setError(errorText(reason)));
    return () => {
      cancelled = true;
    };
  }, [props.runId, artifact.artifact_id]);
  if (error) {
    return <div className="jp-DSP-error">Cannot read {artifact.name}: {error}</div>;
  }
  if (!content) {
    return <div className="jp-DSP-empty">Reading {artifact.name}…</div>;
  }
  if (artifact.type === 'system.Markdown') {
    return (
      <MimeView
        mime="text/markdown"
        data={content.text}
        className="jp-DSP-markdown"
        fallback={<pre className="jp-DSP-markdown">{content.text}</pre>}
      />
    );
  }
  if (artifact.type === 'system.HTML') {
    // no allow-scripts, no allow-same-origin: the report cannot run code or reach the server
    return <iframe className="jp-DSP-htmlFrame" sandbox="" srcDoc={content.text} title={artifact.name} />;
  }
  const text = content.truncated ? content.text.slice(0, content.text.lastIndexOf('\n') + 1) : content.text;
  const [header, ...rows] = parseCsv(text, PREVIEW_ROWS);
  return (
    <table className="jp-DSP-table jp-DSP-dataset" data-artifact={artifact.name}>
      <thead>
        <tr>{(header ?? []).map((h, i) => <th key={i}>{h}</th>)}</tr>
      </thead>
      <tbody>
        {rows.map((r, i) => (
          <tr key={i}>{r.map((c, j) => <td key={j}>{c}</td>)}</tr>
        ))}
      </tbody>
    </table>
  );
}

export function ArtifactView(props: {
  model: DSPModel;
  runId: string;
  space: ResultsSpace;
  artifact: IArtifact;
  task: string;
}): JSX.Element {
  const { artifact } = props;
  const title = props.task ? `${props.task}.${artifact.name}` : artifact.name;
  const metrics = scalarMetrics(artifact);
  const href = artifact.artifact_id
    ? artifactUrl(props.model.client.settings, props.runId, artifact.artifact_id, props.space)
    : null;
  const fileName = artifact.uri.split('/').pop() || artifact.name;
  return (
    <div className="jp-DSP-artifact" data-artifact={artifact.name} data-type={artifact.type}>
      <div className="jp-DSP-artifactHead">
        <b>{artifact.name}</b> <span className="jp-DSP-artifactType">{artifact.type}</span>{' '}
        {artifact.size !== null ? <span className="jp-DSP-row-meta">{humanSize(artifact.size)}</span> : null}{' '}
        {href && artifact.size !== null ? (
          <a className="jp-DSP-link" data-action="download" href={href} download={fileName}>
            Download
          </a>
        ) : null}{' '}
        <OpenNotebookButton runId={props.runId} space={props.space} task={props.task} artifact={artifact} />
        <div className="jp-DSP-uri" title={artifact.uri}>
          {artifact.uri}
        </div>
      </div>
      {artifact.type === 'system.Metrics' ? (
        <div className="jp-DSP-chartRow">
          <ParamsTable parameters={metrics} title="metric" />
          {Object.keys(metrics).length > 0 ? <VegaChart kind="metrics" spec={metricsBarSpec(metrics, title)} /> : null}
        </div>
      ) : null}
      {artifact.type === 'system.ClassificationMetrics' ? <ClassificationView metadata={artifact.metadata} title={title} /> : null}
      {artifact.type === 'system.SlicedClassificationMetrics'
        ? (artifact.metadata?.evaluationSlices ?? []).map((s: any, i: number) => (
            <ClassificationView key={i} metadata={s?.sliceClassificationMetrics ?? {}} title={`${title} [${s?.slice ?? i}]`} />
          ))
        : null}
      {['system.Markdown', 'system.HTML', 'system.Dataset'].includes(artifact.type) && artifact.artifact_id ? (
        <ContentView model={props.model} runId={props.runId} space={props.space} artifact={artifact} />
      ) : null}
    </div>
  );
}

export function IOView(props: {
  model: DSPModel;
  runId: string;
  space: ResultsSpace;
  io: IIO;
  title: string;
  task: string;
  brief?: boolean;
}): JSX.Element {
  const artifacts = allArtifacts(props.io);
  if (!artifacts.length && !Object.keys(props.io.parameters).length) {
    return <div className="jp-DSP-empty">No {props.title}.</div>;
  }
  return (
    <div className="jp-DSP-io" data-io={props.title}>
      <ParamsTable parameters={props.io.parameters} title={props.title} />
      {props.brief
        ? artifacts.map(a => (
            <div key={a.artifact_id || a.name} className="jp-DSP-artifactHead" data-artifact={a.name}>
              <b>{a.name}</b> <span className="jp-DSP-artifactType">{a.type}</span>{' '}
              <span className="jp-DSP-uri">{a.uri}</span>
            </div>
          ))
        : artifacts.map(a => (
            <ArtifactView key={a.artifact_id || a.name} model={props.model} runId={props.runId} space={props.space} artifact={a} task={props.task} />
          ))}
    </div>
  );
}

function TaskOutputs(props: { model: DSPModel; runId: string; space: ResultsSpace; task: ITaskResult; open: boolean }): JSX.Element {
  const { task } = props;
  const [open, setOpen] = React.useState(props.open);
  const params = Object.entries(task.outputs.parameters);
  const label = taskLabel(task);
  const artifactCount = allArtifacts(task.outputs).length;
  return (
    <details
      className="jp-DSP-taskOutputs"
      data-task={label}
      data-task-id={task.task_id}
      open={open}
      onToggle={e => setOpen((e.target as HTMLDetailsElement).open)}
    >
      <summary>
        <b>{label}</b> <StateBadge state={task.state as any} /> {task.cached ? <i>(cached)</i> : null}{' '}
        <span className="jp-DSP-row-meta">
          {params.map(([k, v]) => `${k} = ${valueText(v)}`).join(', ')}
          {artifactCount ? ` · ${artifactCount} artifact${artifactCount > 1 ? 's' : ''}` : ''}
        </span>
      </summary>
      {open ? <IOView model={props.model} runId={props.runId} space={props.space} io={task.outputs} title="outputs" task={label} /> : null}
    </details>
  );
}

function MetricsSummary(props: { results: IResults }): JSX.Element | null {
  const metrics = Object.entries(runMetrics(props.results));
  const [all, setAll] = React.useState(false);
  if (metrics.length < 2) {
    return null;
  }
  const shown = all ? metrics : metrics.slice(0, FIRST_ROWS);
  return (
    <table className="jp-DSP-table jp-DSP-metricsSummary" data-count={metrics.length}>
      <thead>
        <tr>
          <th>metric (task.name)</th>
          <th>value</th>
        </tr>
      </thead>
      <tbody>
        {shown.map(([k, v]) => (
          <tr key={k} data-metric={k}>
            <th>{k}</th>
            <td>{Number(v.toPrecision(6))}</td>
          </tr>
        ))}
        {shown.length < metrics.length ? (
          <tr>
            <td colSpan={2}>
              <button className="jp-DSP-link" data-action="all-metrics" onClick={() => setAll(true)}>
                Show all {metrics.length} metrics
              </button>
            </td>
          </tr>
        ) : null}
      </tbody>
    </table>
  );
}

const prefetched = new Map<string, Promise<IResults>>();

/**
 * Start reading a run's results now (the run view calls it on mount, before the run itself has
 * arrived); the first `useResults` of that run takes the read over. Causes no re-render.
 */
export function usePrefetchResults(model: DSPModel, runId: string, space: ResultsSpace = 'project'): void {
  React.useEffect(() => {
    const id = `${space}:${runId}`;
    if (!prefetched.has(id)) {
      const read = fetchResults(model.client.settings, runId, space);
      read.catch(() => undefined); // an error shows when taken over
      prefetched.set(id, read);
    }
  }, [model, runId, space]);
}

function takeOrFetch(model: DSPModel, runId: string, space: ResultsSpace): Promise<IResults> {
  const id = `${space}:${runId}`;
  const read = prefetched.get(id);
  prefetched.delete(id);
  return read ?? fetchResults(model.client.settings, runId, space);
}

/**
 * The results document of a run, read again when `key` changes (state, tasks ended) while the
 * run is active, or on `reload`. One read at a time: a change during a read is looked at when
 * it ends (so opening a finished run reads once, in parallel with the run itself).
 */
export function useResults(
  model: DSPModel,
  runId: string,
  key: string,
  space: ResultsSpace = 'project'
): { results: IResults | null; error: string | null; reload: () => void } {
  const [results, setResults] = React.useState<IResults | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const [tick, setTick] = React.useState(0);
  const want = React.useRef({ key, tick });
  want.current = { key, tick };
  const reads = React.useRef({ busy: false, alive: true, final: false, got: null as null | { key: string; tick: number } });
  React.useEffect(
    () => () => {
      reads.current.alive = false;
    },
    []
  );
  React.useEffect(() => {
    const r = reads.current;
    const load = (): void => {
      if (r.busy) {
        return; // the read under way looks at `want` again when it ends
      }
      const target = { ...want.current };
      r.busy = true;
      takeOrFetch(model, runId, space)
        .then(doc => {
          r.busy = false;
          if (!r.alive) {
            return;
          }
          r.got = target;
          r.final = !isActive(doc.state);
          setResults(doc);
          setError(null);
          const now = want.current;
          if (now.tick !== target.tick || (!r.final && now.key !== target.key)) {
            load();
          }
        })
        .catch(reason => {
          r.busy = false;
          if (r.alive) {
            setError(errorText(reason));
          }
        });
    };
    const got = r.got;
    if (got && got.tick === tick && (r.final || got.key === key)) {
      return; // a finished run's results do not change
    }
    load();
  }, [model, runId, key, space, tick]);
  return { results, error, reload: () => setTick(t => t + 1) };
}

/** The Outputs section of the run view. */
export function OutputsSection(props: {
  model: DSPModel;
  runId: string;
  space?: ResultsSpace;
  results: IResults | null;
  error: string | null;
  onRetry: () => void;
}): JSX.Element {
  const { results, model, runId } = props;
  const space = props.space ?? 'project';
  const [allTasks, setAllTasks] = React.useState(false);
  if (props.error && !results) {
    return <ErrorBox error={`Cannot read the run's results: ${props.error}`} onRetry={props.onRetry} />;
  }
  if (!results) {
    return <div className="jp-DSP-empty">Loading outputs…</div>;
  }
  const withOutputs = results.tasks.filter(hasOutputs);
  const hidden = allTasks ? 0 : Math.max(0, withOutputs.length - FIRST_ROWS);
  const pipeline = results.pipeline_outputs;
  const hasPipeline = Object.keys(pipeline.parameters).length > 0 || allArtifacts(pipeline).length > 0;
  return (
    <div className="jp-DSP-outputs" data-source={results.source}>
      {results.unavailable ? <div className="jp-DSP-error">{results.unavailable}</div> : null}
      {results.ui_url ? (
        <a className="jp-DSP-link" href={results.ui_url} target="_blank" rel="noopener noreferrer">
          Open the run in the cluster UI
        </a>
      ) : null}
      {hasPipeline ? (
        <div className="jp-DSP-pipelineOutputs">
          <h4>Pipeline outputs</h4>
          <IOView model={model} runId={runId} space={space} io={pipeline} title="pipeline output" task="" />
        </div>
      ) : null}
      <MetricsSummary results={results} />
      {withOutputs.length === 0 ? <div className="jp-DSP-empty">No task has written outputs yet.</div> : null}
      {(allTasks ? withOutputs : withOutputs.slice(0, FIRST_ROWS)).map(task => (
        <TaskOutputs
          key={task.task_id}
          model={model}
          runId={runId}
          space={space}
          task={task}
          open={withOutputs.length <= OPEN_LIMIT}
        />
      ))}
      {hidden ? (
        <button className="jp-DSP-link" data-action="all-tasks" onClick={() => setAllTasks(true)}>
          Show all {withOutputs.length} tasks with outputs ({hidden} more)
        </button>
      ) : null}
    </div>
  );
}

/** Inputs and outputs of the task chosen in the graph or the table. */
export function TaskIOView(props: {
  model: DSPModel;
  runId: string;
  space?: ResultsSpace;
  results: IResults | null;
  taskId: string;
  taskName: string;
}): JSX.Element | null {
  const task =
    props.results?.tasks.find(t => t.task_id === props.taskId) ??
    props.results?.tasks.find(t => (t.display_name || t.name) === props.taskName);
  if (!task) {
    return null;
  }
  const space = props.space ?? 'project';
  return (
    <div className="jp-DSP-taskIO" data-task-id={task.task_id}>
      <h4>Inputs of {taskLabel(task)}</h4>
      <IOView model={props.model} runId={props.runId} space={space} io={task.inputs} title="inputs" task={taskLabel(task)} brief />
      <h4>Outputs of {taskLabel(task)}</h4>
      <IOView model={props.model} runId={props.runId} space={space} io={task.outputs} title="outputs" task={taskLabel(task)} />
    </div>
  );
}

/**
 * The run view's results: the chosen task's inputs and outputs, then `children` (its log), then
 * the Outputs section. It holds the results itself, so their arrival re-renders only this
 * part, not the run view's task table and graph.
 */
export function RunResultsArea(props: {
  model: DSPModel;
  runId: string;
  space?: ResultsSpace;
  /** Changes when the run's state or the number of ended tasks does. */
  runKey: string;
  selectedTaskId: string | null;
  selectedTaskName: string;
  children?: React.ReactNode;
}): JSX.Element {
  const { model, runId } = props;
  const space = props.space ?? 'project';
  const outputs = useResults(model, runId, props.runKey, space);
  return (
    <>
      {props.selectedTaskId ? (
        <TaskIOView
          model={model}
          runId={runId}
          space={space}
          results={outputs.results}
          taskId={props.selectedTaskId}
          taskName={props.selectedTaskName}
        />
      ) : null}
      {props.children}
      <div className="jp-DSP-runOutputs">
        <h3>Outputs</h3>
        <OutputsSection
          model={model}
          runId={runId}
          space={space}
          results={outputs.results}
          error={outputs.error}
          onRetry={outputs.reload}
        />
      </div>
    </>
  );
}
