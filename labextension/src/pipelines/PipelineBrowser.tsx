/**
 * One space's pipelines: server-side name search, pages loaded as the user
 * scrolls, only the visible rows rendered; each pipeline opens to its versions.
 */
import {
  caretDownIcon,
  caretRightIcon,
  deleteIcon,
  duplicateIcon,
  historyIcon,
  LabIcon,
  runIcon
} from '@jupyterlab/ui-components';
import * as React from 'react';

import { errorText } from '../common/api';
import { formatShortTime, formatTime, pipelineLabel } from '../common/format';
import { pipelineLink, UILink } from '../common/links';
import { DSPModel } from '../common/model';
import { IPipeline, IPipelineVersion, SpaceName } from '../common/types';
import { ErrorBox } from '../components/ErrorBox';
import { VirtualList } from '../components/VirtualList';
import { useLive } from '../live/useLive';
import { Expanded, versionLoader } from './pipelineVersions';

export const ROW_HEIGHT = 28;
const PAGE_SIZE = 100;

export interface IPipelineActions {
  run: (space: SpaceName, pipeline: IPipeline, version?: IPipelineVersion) => void;
  /** `space`: where the pipeline is read from (shared, or managed beside a catalog). */
  fork: (pipeline: IPipeline, version?: IPipelineVersion, space?: SpaceName) => void;
  remove: (space: SpaceName, pipeline: IPipeline, version?: IPipelineVersion) => void;
  /** Compare two versions of the pipeline (diff/diff.tsx). */
  diff?: (space: SpaceName, pipeline: IPipeline) => void;
}

type Row =
  | { kind: 'pipeline'; pipeline: IPipeline; expanded: boolean }
  | { kind: 'version'; pipeline: IPipeline; version: IPipelineVersion }
  | { kind: 'note'; pipeline: IPipeline; text: string; error?: boolean; more?: boolean }
  | { kind: 'loading' };

function IconButton(props: { icon: LabIcon; title: string; onClick: () => void; action: string }): JSX.Element {
  return (
    <button
      className="jp-DSP-iconButton"
      title={props.title}
      aria-label={props.title}
      data-action={props.action}
      onClick={event => {
        event.stopPropagation();
        props.onClick();
      }}
    >
      <props.icon.react tag="span" elementSize="small" />
    </button>
  );
}

export function PipelineBrowser(props: {
  model: DSPModel;
  space: SpaceName;
  actions: IPipelineActions;
  /** Changes when the user asks for a refresh. */
  refreshKey: number;
  /** Visible: follow changes made elsewhere (common/liveFeed.ts). */
  live?: boolean;
}): JSX.Element {
  const { model, space, actions } = props;
  const writable = model.canWrite(space);
  const [query, setQuery] = React.useState('');
  const [search, setSearch] = React.useState('');
  const [pipelines, setPipelines] = React.useState<IPipeline[]>([]);
  const [total, setTotal] = React.useState<number | null>(null);
  const [nextToken, setNextToken] = React.useState('');
  const [loading, setLoading] = React.useState(false);
  const [error, setError] = React.useState<string | null>(null);
  const [expanded, setExpanded] = React.useState<Expanded>({});
  const [changes, setChanges] = React.useState(0);
  const [liveChanges, setLiveChanges] = React.useState(0);
  const generation = React.useRef(0);
  const shownCount = React.useRef(0);
  shownCount.current = pipelines.length;
  const loadingMore = React.useRef(false);

  // Debounce the search box: the filter runs on the server.
  React.useEffect(() => {
    const timer = window.setTimeout(() => setSearch(query.trim()), 250);
    return () => window.clearTimeout(timer);
  }, [query]);

  React.useEffect(() => {
    const onChange = (_: DSPModel, changed: SpaceName): void => {
      if (changed === space) {
        setChanges(c => c + 1);
      }
    };
    model.pipelinesChanged.connect(onChange);
    return () => {
      model.pipelinesChanged.disconnect(onChange);
    };
  }, [model, space]);

  // First page, again whenever the space, the search or the data changes. A change made
  // elsewhere reloads quietly, as many rows as are loaded, keeping opened pipelines open.
  const lastLive = React.useRef(liveChanges);
  React.useEffect(() => {
    const gen = ++generation.current;
    const quiet = lastLive.current !== liveChanges;
    lastLive.current = liveChanges;
    const pageSize = quiet ? Math.min(500, Math.max(PAGE_SIZE, shownCount.current)) : PAGE_SIZE;
    if (!quiet) {
      setLoading(true);
    }
    setError(null);
    model.client
      .listPipelines(space, { pageSize, nameContains: search })
      .then(page => {
        if (gen !== generation.current) {
          return;
        }
        const items = page.pipelines ?? [];
        setPipelines(items);
        setTotal(page.total_size ?? items.length);
        setNextToken(page.next_page_token ?? '');
        const ids = new Set(items.map(p => p.pipeline_id));
        setExpanded(state => (quiet ? Object.fromEntries(Object.entries(state).filter(([id]) => ids.has(id))) : {}));
      })
      .catch(reason => gen === generation.current && setError(errorText(reason)))
      .finally(() => gen === generation.current && setLoading(false));
  }, [model, space, search, props.refreshKey, changes, liveChanges]);

  // Beside a catalog stack, the Shared tab also lists the project stack's managed pipelines
  // (dsp/api/managed; the platform ships a handful: one page).
  const hasManaged = space === 'shared' && !!model.info?.spaces?.managed;
  const [managed, setManaged] = React.useState<IPipeline[]>([]);
  const [managedError, setManagedError] = React.useState<string | null>(null);
  React.useEffect(() => {
    let live = true;
    setManagedError(null);
    if (!hasManaged) {
      setManaged([]);
      return;
    }
    model.client
      .listPipelines('managed', { pageSize: PAGE_SIZE, nameContains: search })
      .then(page => live && setManaged(page.pipelines ?? []))
      .catch(reason => live && setManagedError(errorText(reason)));
    return () => {
      live = false;
    };
  }, [model, hasManaged, search, props.refreshKey, changes]);
  const managedIds = React.useMemo(() => new Set(managed.map(p => p.pipeline_id)), [managed]);
  /** Where a row's pipeline is read from. */
  const spaceOf = (p: IPipeline): SpaceName => (managedIds.has(p.pipeline_id) ? 'managed' : space);
  /** What the row is marked with: managed (the platform's), catalog (beside managed ones), or nothing. */
  const whereOf = (p: IPipeline): string =>
    spaceOf(p) === 'managed' || (space !== 'project' && p.tags?.managed === 'true')
      ? 'managed'
      : hasManaged
        ? 'catalog'
        : '';

  const loadMore = React.useCallback(() => {
    if (!nextToken || loadingMore.current || error) {
      return;
    }
    loadingMore.current = true;
    const gen = generation.current;
    model.client
      .listPipelines(space, { pageSize: PAGE_SIZE, pageToken: nextToken, nameContains: search })
      .then(page => {
        if (gen !== generation.current) {
          return;
        }
        setPipelines(items => items.concat(page.pipelines ?? []));
        setNextToken(page.next_page_token ?? '');
      })
      .catch(reason => gen === generation.current && setError(errorText(reason)))
      .finally(() => (loadingMore.current = false));
  }, [model, space, search, nextToken, error]);

  const { loadVersions, toggle } = versionLoader(model, spaceOf, expanded, setExpanded);

  // Live: this space's list, and the versions of each opened pipeline.
  const live = !!props.live && space !== 'managed';
  useLive(model, [`pipelines:${space}`], live, () => setLiveChanges(c => c + 1));
  const opened = pipelines.filter(p => expanded[p.pipeline_id] && spaceOf(p) === space);
  const versionKeys = opened.map(p => `versions:${space}:${p.pipeline_id}`);
  useLive(model, versionKeys, live, key => {
    const p = opened.find(o => key.endsWith(`:${o.pipeline_id}`));
    if (p) {
      loadVersions(p);
    }
  });

  const rows = React.useMemo(() => {
    const out: Row[] = [];
    for (const pipeline of managed.concat(pipelines)) {
      const versions = expanded[pipeline.pipeline_id];
      out.push({ kind: 'pipeline', pipeline, expanded: !!versions });
      if (!versions) {
        continue;
      }
      for (const version of versions.versions) {
        out.push({ kind: 'version', pipeline, version });
      }
      if (versions.error) {
        out.push({ kind: 'note', pipeline, text: versions.error, error: true });
      } else if (versions.loading) {
        out.push({ kind: 'note', pipeline, text: 'Loading versions…' });
      } else if (versions.versions.length === 0) {
        out.push({ kind: 'note', pipeline, text: 'No versions: upload one to run this pipeline.' });
      } else if (versions.nextPageToken) {
        out.push({ kind: 'note', pipeline, text: 'More versions…', more: true });
      }
    }
    if (nextToken) {
      out.push({ kind: 'loading' });
    }
    return out;
  }, [managed, pipelines, expanded, nextToken]);

  const renderRow = (row: Row): React.ReactNode => {
    switch (row.kind) {
      case 'pipeline': {
        const p = row.pipeline;
        const from = spaceOf(p);
        const where = whereOf(p);
        return (
          <div
            className="jp-DSP-row jp-DSP-pipeline"
            data-pipeline-id={p.pipeline_id}
            data-name={p.name ?? ''}
            data-where={where}
            title={p.description || pipelineLabel(p)}
            onClick={() => toggle(p)}
          >
            {React.createElement((row.expanded ? caretDownIcon : caretRightIcon).react, {
              tag: 'span',
              className: 'jp-DSP-caret'
            })}
            <span className="jp-DSP-row-name" title={pipelineLabel(p)}>
              {pipelineLabel(p)}
            </span>
            {where ? (
              <span
                className={`jp-DSP-tag jp-DSP-where jp-DSP-where-${where}`}
                title={
                  where === 'managed'
                    ? 'Managed by the platform: read-only; fork it into the project to change it'
                    : 'In the shared catalog stack'
                }
              >
                {where}
              </span>
            ) : null}
            {p.error?.message ? <span className="jp-DSP-row-error">{p.error.message}</span> : null}
            <span className="jp-DSP-row-actions">
              <UILink href={pipelineLink(model, from, p.pipeline_id)} title="Open the pipeline in the cluster UI" />
              <IconButton icon={runIcon} title="Run the latest version" action="run" onClick={() => actions.run(from, p)} />
              {actions.diff ? (
                <IconButton
                  icon={historyIcon}
                  title="Compare versions"
                  action="diff"
                  onClick={() => actions.diff?.(from, p)}
                />
              ) : null}
              {space === 'shared' && model.canWrite('project') ? (
                <IconButton
                  icon={duplicateIcon}
                  title="Fork into the project"
                  action="fork"
                  onClick={() => actions.fork(p, undefined, from)}
                />
              ) : null}
              {writable && where !== 'managed' ? (
                <IconButton icon={deleteIcon} title="Delete the pipeline" action="delete" onClick={() => actions.remove(space, p)} />
              ) : null}
            </span>
          </div>
        );
      }
      case 'version': {
        const v = row.version;
        return (
          <div
            className="jp-DSP-row jp-DSP-version"
            data-version-id={v.pipeline_version_id}
            title={`${pipelineLabel({ ...v, pipeline_id: v.pipeline_version_id })}, created ${formatTime(v.created_at)}${
              v.description ? '\n' + v.description : ''
            }`}
          >
            <span className="jp-DSP-row-name">{pipelineLabel({ ...v, pipeline_id: v.pipeline_version_id })}</span>
            <span className="jp-DSP-row-meta">{formatShortTime(v.created_at)}</span>
            <span className="jp-DSP-row-actions">
              <UILink
                href={pipelineLink(model, spaceOf(row.pipeline), row.pipeline.pipeline_id, v.pipeline_version_id)}
                title="Open the version in the cluster UI"
              />
              <IconButton
                icon={runIcon}
                title="Run this version"
                action="run"
                onClick={() => actions.run(spaceOf(row.pipeline), row.pipeline, v)}
              />
              {space === 'shared' && model.canWrite('project') ? (
                <IconButton
                  icon={duplicateIcon}
                  title="Fork this version into the project"
                  action="fork"
                  onClick={() => actions.fork(row.pipeline, v, spaceOf(row.pipeline))}
                />
              ) : null}
              {writable && whereOf(row.pipeline) !== 'managed' ? (
                <IconButton
                  icon={deleteIcon}
                  title="Delete this version"
                  action="delete"
                  onClick={() => actions.remove(space, row.pipeline, v)}
                />
              ) : null}
            </span>
          </div>
        );
      }
      case 'note':
        return (
          <div
            className={`jp-DSP-row jp-DSP-version jp-DSP-note${row.error ? ' jp-DSP-row-error' : ''}`}
            onClick={row.more ? () => loadVersions(row.pipeline, expanded[row.pipeline.pipeline_id]?.nextPageToken) : undefined}
          >
            {row.more ? <button className="jp-DSP-link">{row.text}</button> : row.text}
          </div>
        );
      case 'loading':
        return <div className="jp-DSP-row jp-DSP-note">Loading more pipelines…</div>;
    }
  };

  const empty = !loading && !error && pipelines.length === 0 && managed.length === 0;
  const shown = total !== null ? total + managed.length : null;
  return (
    <div className="jp-DSP-browser" data-space={space}>
      <div className="jp-DSP-searchbar">
        <input
          className="jp-mod-styled jp-DSP-input jp-DSP-search"
          type="search"
          placeholder={`Search ${space} pipelines by name`}
          aria-label={`Search ${space} pipelines by name`}
          value={query}
          onChange={e => setQuery(e.target.value)}
        />
        <span className="jp-DSP-count" data-count={shown ?? ''}>
          {loading ? 'Loading…' : shown !== null ? `${shown} pipeline${shown === 1 ? '' : 's'}` : ''}
        </span>
      </div>
      {space === 'shared' && !writable ? (
        <div className="jp-DSP-banner">Shared pipelines are read-only here: run or fork them into the project.</div>
      ) : null}
      {error ? <ErrorBox error={error} onRetry={() => setChanges(c => c + 1)} /> : null}
      {managedError ? (
        <ErrorBox error={`The platform's managed pipelines: ${managedError}`} onRetry={() => setChanges(c => c + 1)} />
      ) : null}
      {empty ? (
        <div className="jp-DSP-empty">
          {search
            ? `No ${space} pipeline has "${search}" in its name.`
            : space === 'project'
              ? 'No pipelines in this project yet. Upload a compiled pipeline (.yaml or .json) with the upload button or from the file browser’s context menu.'
              : 'Nothing is shared yet. Pipelines uploaded with “Share with all projects” appear here.'}
        </div>
      ) : null}
      <VirtualList
        className="jp-DSP-pipelineList"
        items={rows}
        rowHeight={ROW_HEIGHT}
        rowKey={(row, i) =>
          row.kind === 'pipeline'
            ? `p:${row.pipeline.pipeline_id}`
            : row.kind === 'version'
              ? `v:${row.version.pipeline_version_id}`
              : row.kind === 'note'
                ? `n:${row.pipeline.pipeline_id}`
                : `l:${i}`
        }
        renderRow={renderRow}
        onNearEnd={loadMore}
      />
    </div>
  );
}
