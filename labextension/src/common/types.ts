/**
 * Shapes of the server extension's `dsp/info` answer and of the KFP v2beta1
 * REST objects the panel reads (proto field names, empty fields omitted).
 */

/** `managed`: the platform's managed pipelines of a single-user project stack, shown in the
 * Shared tab beside a catalog stack (read-only). */
export type SpaceName = 'project' | 'shared' | 'managed';

export type SharedPolicy = 'read-write' | 'read-only' | 'off';

export interface ISpaceInfo {
  endpoint_host: string;
  namespace: string;
  multi_user: boolean;
  writable: boolean;
  /** "only": this space is the platform's managed pipelines (KFP tag managed=true). */
  managed?: string | null;
  healthy: boolean;
  error: string | null;
}

export interface IInfo {
  namespace: string;
  mode: string;
  identity: string;
  policy: SharedPolicy;
  healthy: boolean;
  error: string | null;
  hint: string | null;
  spaces: {
    project: ISpaceInfo | null;
    shared: ISpaceInfo | null;
    /** Set when the shared space is a catalog stack and the project stack has managed ones. */
    managed?: ISpaceInfo | null;
  };
  /** The cluster's UI for links out (none on the embedded stack); see links.tsx. */
  ui?: IUIInfo | null;
}

export interface IUIInfo {
  kind: 'kfp' | 'odh';
  base: string;
  namespace: string;
  /** Made by the server by the kernel's rule; placeholders RUN_ID_, EXPERIMENT_ID_, PIPELINE_ID_, VERSION_ID_. */
  templates?: {
    run: string | null;
    run_no_experiment: string | null;
    pipeline: string | null;
    version: string | null;
  };
}

export interface IRpcStatus {
  code?: number;
  message?: string;
}

export interface IPipeline {
  pipeline_id: string;
  display_name?: string;
  name?: string;
  description?: string;
  created_at?: string;
  namespace?: string;
  /** KFP tags; the platform's managed pipelines carry managed=true. */
  tags?: Record<string, string>;
  error?: IRpcStatus;
}

export interface IPipelineVersion {
  pipeline_id: string;
  pipeline_version_id: string;
  display_name?: string;
  name?: string;
  description?: string;
  created_at?: string;
  pipeline_spec?: Record<string, any>;
  error?: IRpcStatus;
}

export interface IListPipelinesResponse {
  pipelines?: IPipeline[];
  total_size?: number;
  next_page_token?: string;
}

export interface IListVersionsResponse {
  pipeline_versions?: IPipelineVersion[];
  total_size?: number;
  next_page_token?: string;
}

export type RuntimeState =
  | 'RUNTIME_STATE_UNSPECIFIED'
  | 'PENDING'
  | 'RUNNING'
  | 'SUCCEEDED'
  | 'SKIPPED'
  | 'FAILED'
  | 'CANCELING'
  | 'CANCELED'
  | 'PAUSED';

export interface ITaskDetail {
  run_id?: string;
  task_id: string;
  display_name?: string;
  create_time?: string;
  start_time?: string;
  end_time?: string;
  state?: RuntimeState;
  error?: IRpcStatus;
  parent_task_id?: string;
  child_tasks?: { task_id?: string; pod_name?: string }[];
}

export interface IRun {
  run_id: string;
  experiment_id?: string;
  display_name?: string;
  description?: string;
  pipeline_spec?: Record<string, any>;
  pipeline_version_reference?: {
    pipeline_id?: string;
    pipeline_version_id?: string;
  };
  runtime_config?: {
    parameters?: Record<string, unknown>;
    pipeline_root?: string;
  };
  created_at?: string;
  scheduled_at?: string;
  finished_at?: string;
  state?: RuntimeState;
  error?: IRpcStatus;
  run_details?: { task_details?: ITaskDetail[] };
}

export interface IListRunsResponse {
  runs?: IRun[];
  total_size?: number;
  next_page_token?: string;
}

/** One chunk of a task's log, as the `dsp/logs` endpoint returns it. */
export interface ILogChunk {
  /** Raw bytes: a chunk may end inside a UTF-8 character, so decode with a streaming decoder. */
  bytes: Uint8Array;
  nextOffset: number;
  complete: boolean;
  /** The whole log's size in bytes, when the server says (X-Log-Size): lets a view start at the tail. */
  size?: number;
}

/** States after which a run or task will not change any more. */
export const FINAL_STATES: ReadonlySet<string> = new Set([
  'SUCCEEDED',
  'SKIPPED',
  'FAILED',
  'CANCELED'
]);

export function isActive(state: string | undefined): boolean {
  return !FINAL_STATES.has(state ?? '');
}

/** When a recurring run (KFP v2beta1 `recurringruns`) fires: a cron or a period. */
export interface ICronSchedule {
  cron: string;
  start_time?: string;
  end_time?: string;
}

export interface IPeriodicSchedule {
  interval_second: string | number;
  start_time?: string;
  end_time?: string;
}

export interface ITrigger {
  cron_schedule?: ICronSchedule;
  periodic_schedule?: IPeriodicSchedule;
}
