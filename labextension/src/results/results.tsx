/**
 * A run's results in the run view: pipeline outputs, a table of every metric, each task's
 * outputs (artifactViews.tsx shows them), and the chosen task's inputs and outputs.
 */
import * as React from 'react';

import { DSPModel } from '../common/model';
import { ErrorBox } from '../components/ErrorBox';
import { StateBadge } from '../components/StateBadge';
import { IOView } from './artifactViews';
import { allArtifacts, hasOutputs, IResults, ITaskResult, ResultsSpace, runMetrics, taskLabel, valueText } from './resultsModel';
import { useResults } from './useResults';

/** Tasks shown open at first when the run has at most this many with outputs. */
const OPEN_LIMIT = 12;
/** Rows shown before a "show all" button (tasks with outputs, metrics): big runs open fast. */
const FIRST_ROWS = 40;

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
  const shown = { model, runId, space, results: outputs.results };
  return (
    <>
      {props.selectedTaskId ? (
        <TaskIOView {...shown} taskId={props.selectedTaskId} taskName={props.selectedTaskName} />
      ) : null}
      {props.children}
      <div className="jp-DSP-runOutputs">
        <h3>Outputs</h3>
        <OutputsSection {...shown} error={outputs.error} onRetry={outputs.reload} />
      </div>
    </>
  );
}
