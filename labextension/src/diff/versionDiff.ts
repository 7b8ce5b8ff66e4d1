/**
 * The server's version diff, `GET {base}dsp/diff?pipeline_id=&v1=&v2=&space=` (shape of
 * jupyter_dsp.common.spec_diff.diff_specs), and the root graph it describes as a layout.
 */
import { DSPClient } from '../common/api';
import { formatValue } from '../common/format';
import { IDagNode, layoutDag } from '../common/spec';
import { SpaceName } from '../common/types';

export type NodeStatus = 'same' | 'changed' | 'added' | 'removed';

export interface IDagSide {
  nodes: { id: string; component: string; status: NodeStatus }[];
  edges: [string, string][];
}

export interface IParamDef {
  name: string;
  type: string;
  default?: unknown;
}

export interface IVersionDiff {
  pipeline_id: string;
  pipeline_name?: string;
  old: { pipeline_version_id: string; display_name?: string; created_at?: string };
  new: { pipeline_version_id: string; display_name?: string; created_at?: string };
  changed: boolean;
  summary: string[];
  parameters: {
    added: IParamDef[];
    removed: IParamDef[];
    changed: {
      name: string;
      old_type: string;
      new_type: string;
      old_default?: unknown;
      new_default?: unknown;
    }[];
  };
  components: {
    added: { name: string; image?: string }[];
    removed: { name: string; image?: string }[];
    changed: {
      name: string;
      code_changed: boolean;
      code_diff: string;
      old_image: string;
      new_image: string;
      interface_changed: boolean;
    }[];
  };
  dag: { old: IDagSide; new: IDagSide };
}

export function fetchVersionDiff(
  client: DSPClient,
  space: SpaceName,
  pipelineId: string,
  v1: string,
  v2: string
): Promise<IVersionDiff> {
  const query = new URLSearchParams({ pipeline_id: pipelineId, v1, v2, space });
  return client.json<IVersionDiff>(`${client.url('diff')}?${query.toString()}`);
}

/** The root tasks of one side (nested tasks fold into their root task's status). */
export function layoutSide(side: IDagSide): { nodes: IDagNode[]; status: Record<string, NodeStatus> } {
  const status: Record<string, NodeStatus> = {};
  const tasks: Record<string, { dependentTasks: string[]; taskInfo: { name: string } }> = {};
  for (const node of side.nodes) {
    const root = node.id.split('/')[0];
    if (!tasks[root]) {
      tasks[root] = { dependentTasks: [], taskInfo: { name: root } };
    }
    if (node.id === root) {
      status[root] = status[root] === 'changed' ? 'changed' : node.status;
    } else if (node.status !== 'same' && status[root] !== 'added' && status[root] !== 'removed') {
      status[root] = 'changed';
    }
  }
  for (const [from, to] of side.edges) {
    if (!from.includes('/') && !to.includes('/') && tasks[to] && tasks[from]) {
      tasks[to].dependentTasks.push(from);
    }
  }
  return { nodes: layoutDag({ root: { dag: { tasks } } }), status };
}

export function showValue(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : formatValue(value);
}
