/**
 * A run in the main area: state, parameters, the root task graph, a table of
 * tasks with states and durations, and the selected task's log, tailed by
 * byte offset while the task runs.
 */
import { MainAreaWidget } from '@jupyterlab/apputils';
import { ReactWidget, runningIcon, stopIcon } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import * as React from 'react';

import { DSPError } from './api';
import { lifecycleOf, RunSpace } from './lifecycle';
import { ErrorBox } from './components/ErrorBox';
import { StateBadge } from './components/StateBadge';
import { formatDuration, formatTime } from './format';
import { runLink, UILink } from './links';
import { DSPModel } from './model';
import { IDagNode, layoutDag } from './spec';
import { IRun, ITaskDetail, isActive } from './types';
import { RunResultsArea, usePrefetchResults } from './results';

const RUN_POLL_MS = 2000;
const LOG_POLL_MS = 1500;
const NODE_W = 170;
const NODE_H = 34;
const GAP_X = 24;
const GAP_Y = 40;

function errorText(reason: unknown): string {
  return reason instanceof DSPError ? reason.message : String((reason as Error)?.message ?? reason);
}

/** The task details that belong to a root DAG node (by task name). */
export function tasksFor(node: IDagNode, tasks: ITaskDetail[]): ITaskDetail[] {
  return tasks.filter(t => t.display_name === node.key || t.display_name === node.label);
}

function DagView(props: {
  nodes: IDagNode[];
  tasks: ITaskDetail[];
  selected: string | null;
  onSelect: (task: ITaskDetail) => void;
}): JSX.Element {
  const { nodes } = props;
  if (nodes.length === 0) {
    return <div className="jp-DSP-empty">The pipeline spec has no root tasks to draw.</div>;
  }
  const layers = Math.max(...nodes.map(n => n.layer)) + 1;
  const widest = Math.max(...nodes.map(n => n.index)) + 1;
  const width = widest * (NODE_W + GAP_X) + GAP_X;
  const height = layers * (NODE_H + GAP_Y) + GAP_Y / 2;
  const pos = new Map(nodes.map(n => [n.key, { x: GAP_X + n.index * (NODE_W + GAP_X), y: GAP_Y / 2 + n.layer * (NODE_H + GAP_Y) }]));
  return (
    <svg className="jp-DSP-dag" width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img">
      {nodes.flatMap(n =>
        n.dependsOn.map(dep => {
          const from = pos.get(dep)!;
          const to = pos.get(n.key)!;
          const x1 = from.x + NODE_W / 2;
          const y1 = from.y + NODE_H;
          const x2 = to.x + NODE_W / 2;
          const y2 = to.y;
          const mid = (y1 + y2) / 2;
          return (
            <path
              key={`${dep}->${n.key}`}
              className="jp-DSP-dag-edge"
              d={`M${x1},${y1} C${x1},${mid} ${x2},${mid} ${x2},${y2}`}
            />
          );
        })
      )}
      {nodes.map(n => {
        const p = pos.get(n.key)!;
        const matching = tasksFor(n, props.tasks);
        const task = matching[matching.length - 1];
        const state = task?.state ?? 'PENDING';
        const selected = !!task && task.task_id === props.selected;
        const label = n.label.length > 22 ? n.label.slice(0, 21) + '…' : n.label;
        return (
          <g
            key={n.key}
            className={`jp-DSP-dag-node jp-DSP-state-${state.toLowerCase()}${selected ? ' jp-mod-selected' : ''}`}
            data-task={n.key}
            data-state={task?.state ?? ''}
            transform={`translate(${p.x},${p.y})`}
            onClick={() => task && props.onSelect(task)}
          >
            <title>
              {n.label}: {task?.state ?? 'not started'}
            </title>
            <rect width={NODE_W} height={NODE_H} rx={6} />
            <text x={10} y={NODE_H / 2 + 4}>
              {label}
            </text>
          </g>
        );
      })}
    </svg>
  );
}

// a long log: the view starts LOG_TAIL_BYTES before its end, and polling never keeps more than
// LOG_MAX_CHARS of text in React state (earlier parts load on demand)
const LOG_TAIL_BYTES = 64 * 1024;
const LOG_MAX_CHARS = 128 * 1024;

function LogView(props: {
  model: DSPModel;
  runId: string;
  task: ITaskDetail;
  visible: boolean;
  space?: RunSpace;
}): JSX.Element {
  const { model, runId, task } = props;
  const space = props.space ?? 'project';
  const visible = React.useRef(props.visible);
  visible.current = props.visible;
  const [text, setText] = React.useState('');
  // byte offset of the first byte shown: a long log is shown from its tail (LOG_TAIL_BYTES),
  // earlier parts on demand; the text kept in state never grows past LOG_MAX_CHARS by polling
  const [start, setStart] = React.useState(0);
  const [complete, setComplete] = React.useState(false);
  const [error, setError] = React.useState<string | null>(null);
  const [retry, setRetry] = React.useState(0);
  const pre = React.useRef<HTMLPreElement>(null);

  React.useEffect(() => {
    let offset = 0;
    let stopped = false;
    let timer = 0;
    let decoder = new TextDecoder('utf-8');
    setText('');
    setStart(0);
    setComplete(false);
    setError(null);
    const poll = async (): Promise<void> => {
      if (!visible.current) {
        timer = window.setTimeout(poll, LOG_POLL_MS); // hidden tab: no requests, look again later
        return;
      }
      try {
        const chunk = await lifecycleOf(model).api.readLog(space, runId, task.task_id, offset);
        if (stopped) {
          return;
        }
        if (chunk.size !== undefined && chunk.size - offset > 2 * LOG_TAIL_BYTES) {
          offset = chunk.size - LOG_TAIL_BYTES; // far behind: jump to the tail
          decoder = new TextDecoder('utf-8');
          setText('');
          setStart(offset);
          timer = window.setTimeout(poll, 0);
          return;
        }
        offset = chunk.nextOffset;
        const piece = decoder.decode(chunk.bytes, { stream: !chunk.complete });
        if (piece) {
          setText(t => {
            const all = t + piece;
            return all.length > LOG_MAX_CHARS ? all.slice(all.length - LOG_MAX_CHARS) : all;
          });
        }
        if (chunk.complete) {
          setComplete(true);
          return;
        }
        // catching up: read on at once; at the end: poll for new bytes only
        const behind = chunk.size !== undefined && chunk.size > offset;
        timer = window.setTimeout(poll, behind ? 0 : LOG_POLL_MS);
      } catch (reason) {
        if (!stopped) {
          setError(errorText(reason));
        }
      }
    };
    void poll();
    return () => {
      stopped = true;
      window.clearTimeout(timer);
    };
  }, [model, runId, task.task_id, retry]);

  const loadEarlier = async (): Promise<void> => {
    // the LOG_TAIL_BYTES before the first byte shown (the user asked: the view may grow)
    const from = Math.max(0, start - LOG_TAIL_BYTES);
    try {
      const chunk = await lifecycleOf(model).api.readLog(space, runId, task.task_id, from);
      const bytes = chunk.bytes.subarray(0, start - from);
      setText(t => new TextDecoder('utf-8').decode(bytes) + t);
      setStart(from);
    } catch (reason) {
      setError(errorText(reason));
    }
  };

  React.useEffect(() => {
    const node = pre.current;
    if (node && node.scrollHeight - node.scrollTop - node.clientHeight < 80) {
      node.scrollTop = node.scrollHeight;
    }
  }, [text]);

  return (
    <div className="jp-DSP-log" data-task-id={task.task_id} data-complete={String(complete)}>
      <div className="jp-DSP-log-title">
        Log of {task.display_name || task.task_id} {complete ? '' : <span className="jp-DSP-tailing">(following…)</span>}
      </div>
      {error ? <ErrorBox error={`Cannot read the log: ${error}`} onRetry={() => setRetry(r => r + 1)} /> : null}
      {start > 0 ? (
        <button className="jp-DSP-link jp-DSP-log-earlier" data-action="log-earlier" onClick={() => void loadEarlier()}>
          Load earlier output ({start.toLocaleString()} bytes not shown)
        </button>
      ) : null}
      <pre ref={pre} className="jp-DSP-log-text">
        {text || (complete ? '(this task wrote no log)' : 'Waiting for output…')}
      </pre>
    </div>
  );
}

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

  // Poll while the run is active and its tab is visible (slower after an error, which stays
  // on screen until an answer comes).
  const active = !run || isActive(run.state);
  const { visible } = props;
  React.useEffect(() => {
    if (!active || !visible) {
      return;
    }
    const timer = window.setTimeout(
      () => {
        setNow(Date.now());
        setTick(t => t + 1);
      },
      error ? RUN_POLL_MS * 3 : RUN_POLL_MS
    );
    return () => window.clearTimeout(timer);
  }, [active, error, run, visible, tick]);

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
  const params = Object.entries(run.runtime_config?.parameters ?? {}).sort(([a], [b]) => a.localeCompare(b));
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
          {params.length ? (
            <table className="jp-DSP-table jp-DSP-params">
              <tbody>
                {params.map(([k, v]) => (
                  <tr key={k}>
                    <th>{k}</th>
                    <td>{typeof v === 'string' ? v : JSON.stringify(v)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : (
            <div className="jp-DSP-empty">No parameters.</div>
          )}
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

export class RunDetailWidget extends ReactWidget {
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

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this.update();
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this.update();
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
