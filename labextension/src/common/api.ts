/**
 * The panel's only way to the outside world: the jupyter-dsp server extension,
 * reached through JupyterLab's ServerConnection settings (base URL, XSRF, token).
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import {
  IInfo,
  IListPipelinesResponse,
  IListRunsResponse,
  IListVersionsResponse,
  ILogChunk,
  IPipeline,
  IPipelineVersion,
  IRun,
  SpaceName
} from './types';

/** The readable text of an HTML error page (Jupyter's own pages put it in `.error`). */
function htmlText(html: string): string {
  try {
    const doc = new DOMParser().parseFromString(html, 'text/html');
    const node = doc.querySelector('.error') ?? doc.body;
    return (node?.textContent ?? '').replace(/\s+/g, ' ').trim().slice(0, 300);
  } catch {
    return '';
  }
}

/** An error the server answered with, or a network failure, in words a user can act on. */
export class DSPError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly details: string = ''
  ) {
    super(message);
    this.name = 'DSPError';
  }
}

/** What to show for a failure: a DSPError's own words, else the error's message. */
export function errorText(reason: unknown): string {
  return reason instanceof DSPError ? reason.message : String((reason as Error)?.message ?? reason);
}

/** Pull the message out of a KFP error body (`message` or `error_message`), else the raw text. */
export function errorMessage(status: number, statusText: string, body: string): string {
  let message = '';
  try {
    const data = JSON.parse(body);
    message = data.message || data.error_message || data.error || '';
  } catch {
    message = body.trim().startsWith('<') ? htmlText(body) : body.trim().slice(0, 500);
  }
  const prefix = `${status}${statusText ? ' ' + statusText : ''}`;
  return message ? `${message} (${prefix})` : `Request failed: ${prefix}`;
}

export interface IListOptions {
  pageSize?: number;
  pageToken?: string;
  sortBy?: string;
  /** Substring of the pipeline name, filtered on the server. */
  nameContains?: string;
}

export interface IUploadOptions {
  space: SpaceName;
  file: Blob;
  fileName: string;
  name: string;
  description?: string;
  /** Upload as a new version of this pipeline instead of a new pipeline. */
  pipelineId?: string;
}

const API = 'apis/v2beta1';

export class DSPClient {
  constructor(readonly settings: ServerConnection.ISettings = ServerConnection.makeSettings()) {}

  /** Project namespace, set from `dsp/info`; listings of the project space carry it. */
  namespace = '';

  url(...parts: string[]): string {
    return URLExt.join(this.settings.baseUrl, 'dsp', ...parts);
  }

  /** A request to the server extension; a refusal becomes a DSPError with the server's message. */
  async fetch(url: string, init: RequestInit = {}): Promise<Response> {
    let response: Response;
    try {
      // 'no-cache' revalidates without the cache-buster query parameter JupyterLab adds
      // for its default 'no-store' (a bare timestamp the proxy's query check refuses).
      response = await ServerConnection.makeRequest(url, { cache: 'no-cache', ...init }, this.settings);
    } catch (reason) {
      throw new DSPError(`Cannot reach the Jupyter server: ${String(reason)}`, 0);
    }
    if (!response.ok) {
      const body = await response.text().catch(() => '');
      throw new DSPError(errorMessage(response.status, response.statusText, body), response.status, body);
    }
    return response;
  }

  async json<T>(url: string, init: RequestInit = {}): Promise<T> {
    const response = await this.fetch(url, init);
    const text = await response.text();
    if (!text) {
      return {} as T;
    }
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new DSPError(`The server answered something that is not JSON: ${text.slice(0, 200)}`, response.status);
    }
  }

  /** `dsp/api/{space}/apis/v2beta1/{path}?query` (space: project, shared or local). */
  apiUrl(space: SpaceName | 'local', path: string, query: Record<string, string | undefined> = {}): string {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined && value !== '') {
        search.set(key, value);
      }
    }
    const qs = search.toString();
    return this.url('api', space, API, path) + (qs ? `?${qs}` : '');
  }

  private spaceNamespace(space: SpaceName): string | undefined {
    return space === 'project' && this.namespace ? this.namespace : undefined;
  }

  async info(): Promise<IInfo> {
    const info = await this.json<IInfo>(this.url('info'));
    this.namespace = info.namespace || '';
    return info;
  }

  listPipelines(space: SpaceName, options: IListOptions = {}): Promise<IListPipelinesResponse> {
    return this.json(
      this.apiUrl(space, 'pipelines', {
        namespace: this.spaceNamespace(space),
        page_size: String(options.pageSize ?? 50),
        page_token: options.pageToken,
        sort_by: options.sortBy ?? 'name asc',
        filter: nameFilter(options.nameContains)
      })
    );
  }

  /**
   * A page of a pipeline's versions. The server's proxy leaves out each version's
   * pipeline_spec/platform_spec (they can be megabytes each) unless `includeSpecs`;
   * read one version's spec with getVersion.
   */
  listVersions(
    space: SpaceName,
    pipelineId: string,
    options: IListOptions & { includeSpecs?: boolean } = {}
  ): Promise<IListVersionsResponse> {
    return this.json(
      this.apiUrl(space, `pipelines/${encodeURIComponent(pipelineId)}/versions`, {
        page_size: String(options.pageSize ?? 50),
        page_token: options.pageToken,
        sort_by: options.sortBy ?? 'created_at desc',
        include_specs: options.includeSpecs ? 'true' : undefined
      })
    );
  }

  /** One version with its full spec (its inputs, its graph). */

  getVersion(space: SpaceName, pipelineId: string, versionId: string): Promise<IPipelineVersion> {
    return this.json(
      this.apiUrl(space, `pipelines/${encodeURIComponent(pipelineId)}/versions/${encodeURIComponent(versionId)}`)
    );
  }

  /** The newest version of a pipeline, or null when it has none. */
  async latestVersion(space: SpaceName, pipelineId: string): Promise<IPipelineVersion | null> {
    const page = await this.listVersions(space, pipelineId, { pageSize: 1, sortBy: 'created_at desc' });
    const first = page.pipeline_versions?.[0];
    return first ? this.getVersion(space, pipelineId, first.pipeline_version_id) : null;
  }

  async deletePipeline(space: SpaceName, pipelineId: string): Promise<void> {
    await this.fetch(this.apiUrl(space, `pipelines/${encodeURIComponent(pipelineId)}`, { cascade: 'true' }), {
      method: 'DELETE'
    });
  }

  async deleteVersion(space: SpaceName, pipelineId: string, versionId: string): Promise<void> {
    await this.fetch(
      this.apiUrl(space, `pipelines/${encodeURIComponent(pipelineId)}/versions/${encodeURIComponent(versionId)}`),
      { method: 'DELETE' }
    );
  }

  /** Multipart upload of a pipeline file: a new pipeline, or a new version when `pipelineId` is given. */
  upload(options: IUploadOptions): Promise<IPipeline | IPipelineVersion> {
    const form = new FormData();
    form.append('uploadfile', options.file, options.fileName);
    const url = options.pipelineId
      ? this.apiUrl(options.space, 'pipelines/upload_version', {
          name: options.name,
          display_name: options.name,
          description: options.description,
          pipelineid: options.pipelineId
        })
      : this.apiUrl(options.space, 'pipelines/upload', {
          name: options.name,
          display_name: options.name,
          description: options.description,
          namespace: this.spaceNamespace(options.space)
        });
    return this.json(url, { method: 'POST', body: form });
  }

  createRun(run: Partial<IRun>): Promise<IRun> {
    return this.json(this.apiUrl('project', 'runs'), { method: 'POST', body: JSON.stringify(run) });
  }

  listRuns(options: IListOptions = {}): Promise<IListRunsResponse> {
    return this.json(
      this.apiUrl('project', 'runs', {
        namespace: this.spaceNamespace('project'),
        page_size: String(options.pageSize ?? 20),
        page_token: options.pageToken,
        sort_by: options.sortBy ?? 'created_at desc'
      })
    );
  }

  getRun(runId: string): Promise<IRun> {
    return this.json(this.apiUrl('project', `runs/${encodeURIComponent(runId)}`));
  }

  /** A task's log from byte `offset` on. */
  async readLog(runId: string, taskId: string, offset: number): Promise<ILogChunk> {
    const url =
      this.url('logs', encodeURIComponent(runId), encodeURIComponent(taskId)) + `?offset=${Math.max(0, offset)}`;
    return logChunk(await this.fetch(url), offset);
  }
}

/** A log answer read from byte `offset`: its bytes, where the next read starts, whether the log
 * is complete (the task ended) and its whole size when known (`X-Log-*` headers). */
export async function logChunk(response: Response, offset: number): Promise<ILogChunk> {
  const buffer = await response.arrayBuffer();
  const next = Number(response.headers.get('X-Log-Next-Offset'));
  return {
    bytes: new Uint8Array(buffer),
    nextOffset: Number.isFinite(next) && response.headers.has('X-Log-Next-Offset') ? next : offset + buffer.byteLength,
    complete: response.headers.get('X-Log-Complete') === 'true',
    size: response.headers.has('X-Log-Size') ? Number(response.headers.get('X-Log-Size')) : undefined
  };
}

/** KFP filter JSON for "name contains `text`", or undefined for no filter. */
export function nameFilter(text: string | undefined): string | undefined {
  const value = (text ?? '').trim();
  if (!value) {
    return undefined;
  }
  return JSON.stringify({
    predicates: [{ key: 'name', operation: 'IS_SUBSTRING', string_value: value }]
  });
}
