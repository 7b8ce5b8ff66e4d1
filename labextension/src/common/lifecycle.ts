/**
 * The rest of a pipeline's lifecycle, over the server extension's proxy: runs in the project
 * or in the local space (run locally), experiments, archive and delete, and recurring runs
 * (KFP v2beta1 `recurringruns`). Shapes follow the KFP v2beta1 API (proto field names).
 */
import { DSPClient, logChunk } from './api';
import { DSPModel } from './model';
import { IListRunsResponse, ILogChunk, IRun, IRpcStatus, ITrigger } from './types';

/** Where runs live: the project's stack, or the workbench's local stack ("run locally"). */
export type RunSpace = 'project' | 'local';

export interface IExperiment {
  experiment_id: string;
  display_name?: string;
  description?: string;
  created_at?: string;
  namespace?: string;
  storage_state?: 'AVAILABLE' | 'ARCHIVED' | string;
}

export interface IListExperimentsResponse {
  experiments?: IExperiment[];
  total_size?: number;
  next_page_token?: string;
}

export interface IRecurringRun {
  recurring_run_id: string;
  display_name?: string;
  description?: string;
  pipeline_version_reference?: { pipeline_id?: string; pipeline_version_id?: string };
  pipeline_spec?: Record<string, any>;
  runtime_config?: { parameters?: Record<string, unknown> };
  max_concurrency?: string | number;
  trigger?: ITrigger;
  mode?: 'ENABLE' | 'DISABLE' | string;
  status?: 'ENABLED' | 'DISABLED' | string;
  created_at?: string;
  no_catchup?: boolean;
  experiment_id?: string;
  namespace?: string;
  error?: IRpcStatus;
  /** Extras of the embedded stack (absent on a cluster's KFP). */
  next_fire_time?: string | null;
  last_fire_time?: string | null;
  fired_count?: number;
}

export interface IListRecurringRunsResponse {
  recurringRuns?: IRecurringRun[];
  /** Some servers use the snake_case name. */
  recurring_runs?: IRecurringRun[];
  total_size?: number;
  next_page_token?: string;
}

export interface IRunListOptions {
  pageSize?: number;
  experimentId?: string;
  showArchived?: boolean;
  recurringRunId?: string;
}

function enc(id: string): string {
  return encodeURIComponent(id);
}

function predicates(options: IRunListOptions): string | undefined {
  const list: Record<string, string>[] = [];
  if (!options.showArchived) {
    list.push({ key: 'storage_state', operation: 'NOT_EQUALS', string_value: 'ARCHIVED' });
  }
  if (options.recurringRunId) {
    list.push({ key: 'recurring_run_id', operation: 'EQUALS', string_value: options.recurringRunId });
  }
  return list.length ? JSON.stringify({ predicates: list }) : undefined;
}

/** Lifecycle operations; one per panel, over the panel's DSPClient. */
export class LifecycleClient {
  constructor(readonly client: DSPClient) {}

  private ns(): string | undefined {
    return this.client.namespace || undefined;
  }

  // ---- runs, in either space -----------------------------------------------------------
  listRuns(space: RunSpace, options: IRunListOptions = {}): Promise<IListRunsResponse> {
    return this.client.json(
      this.client.apiUrl(space, 'runs', {
        namespace: this.ns(),
        experiment_id: options.experimentId,
        page_size: String(options.pageSize ?? 20),
        sort_by: 'created_at desc',
        filter: predicates(options)
      })
    );
  }

  getRun(space: RunSpace, runId: string): Promise<IRun> {
    return this.client.json(this.client.apiUrl(space, `runs/${enc(runId)}`));
  }

  createRun(space: RunSpace, run: Partial<IRun>): Promise<IRun> {
    return this.client.json(this.client.apiUrl(space, 'runs'), { method: 'POST', body: JSON.stringify(run) });
  }

  async runAction(space: RunSpace, runId: string, action: 'archive' | 'unarchive' | 'terminate'): Promise<void> {
    await this.client.fetch(this.client.apiUrl(space, `runs/${enc(runId)}:${action}`), { method: 'POST' });
  }

  async deleteRun(space: RunSpace, runId: string): Promise<void> {
    await this.client.fetch(this.client.apiUrl(space, `runs/${enc(runId)}`), { method: 'DELETE' });
  }

  /** A task's log: the project's through `dsp/logs` (pod logs in a cluster), the local
   * stack's through its own logs endpoint in the local space. */
  async readLog(space: RunSpace, runId: string, taskId: string, offset: number): Promise<ILogChunk> {
    if (space === 'project') {
      return this.client.readLog(runId, taskId, offset);
    }
    const url = this.client.apiUrl(space, `runs/${enc(runId)}/tasks/${enc(taskId)}/logs`, {
      offset: String(Math.max(0, offset))
    });
    return logChunk(await this.client.fetch(url), offset);
  }

  // ---- experiments -----------------------------------------------------------------------
  listExperiments(space: RunSpace = 'project'): Promise<IListExperimentsResponse> {
    return this.client.json(
      this.client.apiUrl(space, 'experiments', { namespace: this.ns(), page_size: '200', sort_by: 'name asc' })
    );
  }

  async setExperimentArchived(space: RunSpace, experimentId: string, archived: boolean): Promise<void> {
    const action = archived ? 'archive' : 'unarchive';
    await this.client.fetch(this.client.apiUrl(space, `experiments/${enc(experimentId)}:${action}`), {
      method: 'POST'
    });
  }

  /** The id of the experiment called `name`, created when missing. */
  async experimentId(space: RunSpace, name: string): Promise<string> {
    const filter = JSON.stringify({ predicates: [{ key: 'name', operation: 'EQUALS', string_value: name }] });
    const found: IListExperimentsResponse = await this.client.json(
      this.client.apiUrl(space, 'experiments', { namespace: this.ns(), filter, page_size: '10' })
    );
    const match = (found.experiments ?? []).find(e => e.display_name === name);
    if (match) {
      return match.experiment_id;
    }
    const created: IExperiment = await this.client.json(this.client.apiUrl(space, 'experiments'), {
      method: 'POST',
      body: JSON.stringify({ display_name: name, namespace: this.ns() })
    });
    return created.experiment_id;
  }

  // ---- recurring runs --------------------------------------------------------------------
  async listRecurringRuns(pageSize = 100): Promise<{ items: IRecurringRun[]; total: number }> {
    const page: IListRecurringRunsResponse = await this.client.json(
      this.client.apiUrl('project', 'recurringruns', {
        namespace: this.ns(),
        page_size: String(pageSize),
        sort_by: 'created_at desc'
      })
    );
    const items = page.recurringRuns ?? page.recurring_runs ?? [];
    return { items, total: page.total_size ?? items.length };
  }

  createRecurringRun(body: Partial<IRecurringRun>): Promise<IRecurringRun> {
    return this.client.json(this.client.apiUrl('project', 'recurringruns'), {
      method: 'POST',
      body: JSON.stringify({ ...body, namespace: this.ns() })
    });
  }

  async setRecurringRunEnabled(id: string, enabled: boolean): Promise<void> {
    const action = enabled ? 'enable' : 'disable';
    await this.client.fetch(this.client.apiUrl('project', `recurringruns/${enc(id)}:${action}`), { method: 'POST' });
  }

  async deleteRecurringRun(id: string): Promise<void> {
    await this.client.fetch(this.client.apiUrl('project', `recurringruns/${enc(id)}`), { method: 'DELETE' });
  }
}

/** KFP's 6-field cron (seconds first) as the 5-field form people type when its seconds are 0
 * (`0 0 6 * * *` -> `0 6 * * *`), as the kernel shows it; any other expression unchanged. */
export function cronAsTyped(cron: string): string {
  const fields = cron.trim().split(/\s+/);
  return fields.length === 6 && fields[0] === '0' ? fields.slice(1).join(' ') : fields.join(' ');
}

/** "every 5 minutes", "cron 0 6 * * *": how a schedule's trigger reads in a list. */
export function triggerText(trigger: ITrigger | undefined): string {
  if (trigger?.cron_schedule?.cron) {
    return `cron ${cronAsTyped(trigger.cron_schedule.cron)}`;
  }
  const seconds = Number(trigger?.periodic_schedule?.interval_second ?? NaN);
  if (!Number.isFinite(seconds) || seconds <= 0) {
    return 'no trigger';
  }
  const units: [number, string][] = [
    [86400, 'day'],
    [3600, 'hour'],
    [60, 'minute'],
    [1, 'second']
  ];
  for (const [size, name] of units) {
    if (seconds % size === 0) {
      const n = seconds / size;
      return n === 1 ? `every ${name}` : `every ${n} ${name}s`;
    }
  }
  return `every ${seconds} seconds`;
}

/** The panel's lifecycle helpers, one per model. */
export class Lifecycle {
  constructor(readonly model: DSPModel) {
    this.api = new LifecycleClient(model.client);
  }

  readonly api: LifecycleClient;

  /** Whether "run locally" is offered: the project stack is a cluster's. */
  get localAvailable(): boolean {
    const mode = this.model.info?.mode;
    return !!mode && mode !== 'embedded';
  }
}

const instances = new WeakMap<DSPModel, Lifecycle>();

export function lifecycleOf(model: DSPModel): Lifecycle {
  let found = instances.get(model);
  if (!found) {
    found = new Lifecycle(model);
    instances.set(model, found);
  }
  return found;
}
