/** A run's root task graph: one node per root task, coloured by the state of its task. */
import * as React from 'react';

import { IDagNode } from '../common/spec';
import { ITaskDetail } from '../common/types';

const NODE_W = 170;
const NODE_H = 34;
const GAP_X = 24;
const GAP_Y = 40;

/** The task details that belong to a root DAG node (by task name). */
export function tasksFor(node: IDagNode, tasks: ITaskDetail[]): ITaskDetail[] {
  return tasks.filter(t => t.display_name === node.key || t.display_name === node.label);
}

export function DagView(props: {
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
