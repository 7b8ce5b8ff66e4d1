/**
 * A run in the main area: state, parameters, the root task graph, a table of
 * tasks with states and durations, and the selected task's log, tailed by
 * byte offset while the task runs.
 */
import { MainAreaWidget } from '@jupyterlab/apputils';
import { runningIcon, stopIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import { errorText } from '../common/api';
import { formatDuration, formatTime } from '../common/format';
import { lifecycleOf, RunSpace } from '../common/lifecycle';
import { runLink, UILink } from '../common/links';
import { DSPModel } from '../common/model';
import { layoutDag } from '../common/spec';
import { IRun, isActive } from '../common/types';
import { ErrorBox } from '../components/ErrorBox';
import { StateBadge } from '../components/StateBadge';
import { VisibilityWidget } from '../components/VisibilityWidget';
import { useLive } from '../live/useLive';
import { RunResultsArea } from '../results/results';
import { usePrefetchResults } from '../results/useResults';
import { DagView } from './DagView';
import { LogView } from './LogView';
import { RunParams } from './RunParams';

const RUN_POLL_MS = 2000;

function RunDetail(props: {
  model: DSPModel;
  runId: string;
  visible: boolean;
  onTitle: (title: string) => void;
  space: RunSpace;
  onRunAgain?: (run: IRun, space: RunSpace) => void;
}): JSX.Element {
  const { model, runId, space } = props;
  const lifecycle = lifecycleOf(model);
  const [run, setRun] = React.useState<IRun | null>(null);
  const [spec, setSpec] = React.useState<Record<string, any> | null>(null);
  const [specError, setSpecError] = React.useState<string | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const [tick, setTick] = React.useState(0);
  const [selected, setSelected] = React.useState<string | null>(null);
  const [, setNow] = React.useState(Date.now());
  const lastState = React.useRef<string | undefined>(undefined);

  React.useEffect(() => {
    let cancelled = false;
    lifecycle.api
      .getRun(space, runId)
      .then(r => {
        if (!cancelled) {
          if (lastState.current !== undefined && isActive(lastState.current) && !isActive(r.state)) {
            model.notifyRuns(); // the panel's list shows the final state at once
          }
          lastState.current = r.state;
          setRun(r);
          setError(null);
          props.onTitle(r.display_name || r.run_id);
        }
      })
      .catch(reason => !cancelled && setError(errorText(reason)));
    return () => {
      cancelled = true;
    };
  }, [model, runId, tick]);

  // Project runs are live while the tab is visible (the server watches the run: one long
  // poll, see common/liveFeed.ts), whatever their state (a retry makes a final run active again).
  // A local run is polled while active. Either way the clock ticks for the durations.
  const active = !run || isActive(run.state);
  const { visible } = props;
  useLive(model, [`run:${runId}`], visible && space === 'project', () => setTick(t => t + 1));
  React.useEffect(() => {
    if (!active || !visible) {
      return;
    }
    const timer = window.setTimeout(
      () => {
        setNow(Date.now());
        if (space !== 'project' || error) {
          setTick(t => t + 1); // a local run; or after an error, until an answer comes
        }
      },
      error ? RUN_POLL_MS * 3 : RUN_POLL_MS
    );
    return () => window.clearTimeout(timer);
  }, [active, error, run, visible, tick, space]);

  // The spec: in the run, else from the version it references (project first, then shared).
  const ref = run?.pipeline_version_reference;
  React.useEffect(() => {
    if (!run || spec) {
      return;
    }
    if (run.pipeline_spec && Object.keys(run.pipeline_spec).length) {
      setSpec(run.pipeline_spec);
      return;
    }
    if (!ref?.pipeline_id || !ref.pipeline_version_id) {
      setSpecError('The run carries no pipeline spec and no version reference.');
      return;
    }
    const load = async (): Promise<void> => {
      try {
        setSpec((await model.client.getVersion('project', ref.pipeline_id!, ref.pipeline_version_id!)).pipeline_spec ?? {});
      } catch (first) {
        if (!model.sharedVisible) {
          throw first;
        }
        setSpec((await model.client.getVersion('shared', ref.pipeline_id!, ref.pipeline_version_id!)).pipeline_spec ?? {});
      }
    };
    load().catch(reason => setSpecError(errorText(reason)));
  }, [run?.run_id, ref?.pipeline_id, ref?.pipeline_version_id]);

  const nodes = React.useMemo(() => layoutDag(spec ?? undefined), [spec]);
  const tasks = run?.run_details?.task_details ?? [];
  const selectedTask = tasks.find(t => t.task_id === selected) ?? null;
  const doneTasks = tasks.filter(t => !isActive(t.state)).length;
  usePrefetchResults(model, runId, space); // in parallel with the run itself

  if (error && !run) {
    return (
      <div className="jp-DSP-runView">
        <ErrorBox error={`Cannot load run ${runId}: ${error}`} onRetry={() => setTick(t => t + 1)} />
      </div>
    );
  }
  if (!run) {
    return <div className="jp-DSP-runView jp-DSP-empty">Loading run…</div>;
  }
  const terminate = (): void => {
    lifecycle.api
      .runAction(space, run.run_id, 'terminate')
      .then(() => {
        model.notifyRuns();
        setTick(t => t + 1);
      })
      .catch(reason => setError(errorText(reason)));
  };
  return (
    <div className="jp-DSP-runView" data-run-id={run.run_id} data-state={run.state ?? ''}>
      <div className="jp-DSP-runHeader">
        <h2 className="jp-DSP-runTitle">{run.display_name || run.run_id}</h2>
        <StateBadge state={run.state} />
        {space === 'local' ? (
          <span className="jp-DSP-localBadge" title="Ran on this workbench's local stack">
            local
          </span>
        ) : null}
        <span className="jp-DSP-row-meta">
          started {formatTime(run.created_at)} · {formatDuration(run.created_at, run.finished_at)}
        </span>
        {space !== 'local' ? (
          <UILink href={runLink(model, run.run_id, run.experiment_id)} title="Open the run in the cluster UI" label="Cluster UI" />
        ) : null}
        {props.onRunAgain ? (
          <button
            className="jp-mod-styled jp-DSP-button"
            data-action="run-again"
            title="Open the run dialog with this run's pipeline version and parameters"
            onClick={() => props.onRunAgain?.(run, space)}
          >
            Run again…
          </button>
        ) : null}
        {isActive(run.state) && run.state !== 'CANCELING' ? (
          <button className="jp-mod-styled jp-mod-warn jp-DSP-button" data-action="terminate" onClick={terminate}>
            <stopIcon.react tag="span" elementSize="small" /> Terminate
          </button>
        ) : null}
      </div>
      {error ? <ErrorBox error={error} /> : null}
      {run.error?.message ? <div className="jp-DSP-error">{run.error.message}</div> : null}
      <div className="jp-DSP-runGrid">
        <div className="jp-DSP-runSide">
          <h3>Parameters</h3>
          <RunParams run={run} spec={spec} specFailed={!!specError} />
          <h3>Tasks</h3>
          {tasks.length === 0 ? (
            <div className="jp-DSP-empty">
              {isActive(run.state) ? 'No task has started yet.' : 'This run reported no tasks.'}
            </div>
          ) : (
            <table className="jp-DSP-table jp-DSP-tasks">
              <thead>
                <tr>
                  <th>Task</th>
                  <th>State</th>
                  <th>Duration</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {tasks.map(task => (
                  <tr
                    key={task.task_id}
                    data-task-id={task.task_id}
                    className={task.task_id === selected ? 'jp-mod-selected' : ''}
                  >
                    <td title={task.error?.message ?? ''}>{task.display_name || task.task_id}</td>
                    <td>
                      <StateBadge state={task.state} />
                    </td>
                    <td>{formatDuration(task.start_time ?? task.create_time, task.end_time)}</td>
                    <td>
                      <button className="jp-DSP-link" data-action="log" onClick={() => setSelected(task.task_id)}>
                        Log
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
        <div className="jp-DSP-runMain">
          <h3>Graph</h3>
          {specError ? <ErrorBox error={`Cannot draw the graph: ${specError}`} /> : null}
          {spec ? (
            <div className="jp-DSP-dagScroll">
              <DagView nodes={nodes} tasks={tasks} selected={selected} onSelect={t => setSelected(t.task_id)} />
            </div>
          ) : null}
          <RunResultsArea
            model={model}
            runId={run.run_id}
            space={space}
            runKey={`${run.state}:${tasks.length}:${doneTasks}`}
            selectedTaskId={selectedTask?.task_id ?? null}
            selectedTaskName={selectedTask?.display_name ?? ''}
          >
            {selectedTask ? (
              <LogView model={model} runId={run.run_id} task={selectedTask} visible={props.visible} space={space} />
            ) : (
              <div className="jp-DSP-empty">Choose a task (in the graph or the table) to read its log.</div>
            )}
          </RunResultsArea>
        </div>
      </div>
    </div>
  );
}

export class RunDetailWidget extends VisibilityWidget {
  constructor(
    private readonly model: DSPModel,
    readonly runId: string,
    private readonly onTitle: (title: string) => void,
    readonly space: RunSpace = 'project',
    private readonly onRunAgain?: (run: IRun, space: RunSpace) => void
  ) {
    super();
    this.addClass('jp-DSP-runWidget');
  }

  render(): JSX.Element {
    return (
      <RunDetail
        model={this.model}
        runId={this.runId}
        visible={this.isVisible}
        onTitle={this.onTitle}
        space={this.space}
        onRunAgain={this.onRunAgain}
      />
    );
  }
}

/** A main-area widget for a run; the caller adds it to the shell. */
export function createRunView(
  model: DSPModel,
  runId: string,
  space: RunSpace = 'project',
  onRunAgain?: (run: IRun, space: RunSpace) => void
): MainAreaWidget<RunDetailWidget> {
  let widget: MainAreaWidget<RunDetailWidget> | null = null;
  const prefix = space === 'local' ? 'Local run' : 'Run';
  const content = new RunDetailWidget(
    model,
    runId,
    title => {
      if (widget && widget.title.label !== `${prefix}: ${title}`) {
        widget.title.label = `${prefix}: ${title}`;
      }
    },
    space,
    onRunAgain
  );
  widget = new MainAreaWidget({ content });
  widget.id = space === 'local' ? `jupyter-dsp-local-run-${runId}` : `jupyter-dsp-run-${runId}`;
  widget.title.label = `Run ${runId.slice(0, 8)}`;
  widget.title.icon = runningIcon;
  widget.title.closable = true;
  return widget;
}
