/**
 * Compare two versions of a pipeline in the main area: parameters added, removed or with a
 * changed default; steps added or removed; steps whose code or image changed (with the
 * changed lines); and the two task graphs side by side with the changed steps marked.
 */
import { MainAreaWidget } from '@jupyterlab/apputils';
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { DSPError } from './api';
import { ErrorBox } from './components/ErrorBox';
import { formatShortTime, pipelineLabel } from './format';
import { DSPModel } from './model';
import { IDagNode, layoutDag } from './spec';
import { changedLines, diffSpecs, ISpecDiff } from './specDiff';
import { IPipeline, IPipelineVersion, SpaceName } from './types';

const NODE_W = 150;
const NODE_H = 30;
const GAP_X = 18;
const GAP_Y = 32;

function message(reason: unknown): string {
  return reason instanceof DSPError ? reason.message : String((reason as Error)?.message ?? reason);
}

function versionLabel(v: IPipelineVersion): string {
  const when = formatShortTime(v.created_at);
  return `${v.display_name || v.name || v.pipeline_version_id}${when ? ` (${when})` : ''}`;
}

function DiffDag(props: { nodes: IDagNode[]; marks: ISpecDiff['marks']; side: 'before' | 'after' }): JSX.Element {
  const { nodes } = props;
  if (!nodes.length) {
    return <div className="jp-DSP-empty">No steps.</div>;
  }
  const layers = Math.max(...nodes.map(n => n.layer)) + 1;
  const widest = Math.max(...nodes.map(n => n.index)) + 1;
  const width = widest * (NODE_W + GAP_X) + GAP_X;
  const height = layers * (NODE_H + GAP_Y) + GAP_Y / 2;
  const pos = new Map(
    nodes.map(n => [n.key, { x: GAP_X + n.index * (NODE_W + GAP_X), y: GAP_Y / 2 + n.layer * (NODE_H + GAP_Y) }])
  );
  return (
    <svg className="jp-DSP-dag jp-DSP-diffDag" data-side={props.side} width={width} height={height} role="img">
      {nodes.flatMap(n =>
        n.dependsOn.map(dep => {
          const a = pos.get(dep)!;
          const b = pos.get(n.key)!;
          const y1 = a.y + NODE_H;
          const mid = (y1 + b.y) / 2;
          return (
            <path
              key={`${dep}->${n.key}`}
              className="jp-DSP-dag-edge"
              d={`M${a.x + NODE_W / 2},${y1} C${a.x + NODE_W / 2},${mid} ${b.x + NODE_W / 2},${mid} ${b.x + NODE_W / 2},${b.y}`}
            />
          );
        })
      )}
      {nodes.map(n => {
        const p = pos.get(n.key)!;
        const mark = props.marks[n.key];
        const label = n.label.length > 19 ? n.label.slice(0, 18) + '…' : n.label;
        return (
          <g
            key={n.key}
            className={`jp-DSP-dag-node jp-DSP-diff-node${mark ? ` jp-DSP-diff-${mark}` : ''}`}
            data-task={n.key}
            data-change={mark ?? ''}
            transform={`translate(${p.x},${p.y})`}
          >
            <title>
              {n.label}
              {mark ? `: ${mark}` : ': unchanged'}
            </title>
            <rect width={NODE_W} height={NODE_H} rx={6} />
            <text x={8} y={NODE_H / 2 + 4}>
              {mark === 'added' ? '+ ' : mark === 'removed' ? '− ' : mark === 'changed' ? '~ ' : ''}
              {label}
            </text>
          </g>
        );
      })}
    </svg>
  );
}

function DiffBody(props: { before: IPipelineVersion; after: IPipelineVersion }): JSX.Element {
  const { before, after } = props;
  const diff = React.useMemo(() => diffSpecs(before.pipeline_spec, after.pipeline_spec), [before, after]);
  const nodesBefore = React.useMemo(() => layoutDag(before.pipeline_spec), [before]);
  const nodesAfter = React.useMemo(() => layoutDag(after.pipeline_spec), [after]);
  const marksBefore: ISpecDiff['marks'] = {};
  const marksAfter: ISpecDiff['marks'] = {};
  for (const [key, mark] of Object.entries(diff.marks)) {
    if (mark === 'removed' || mark === 'changed') {
      marksBefore[key] = mark;
    }
    if (mark === 'added' || mark === 'changed') {
      marksAfter[key] = mark;
    }
  }
  return (
    <div className="jp-DSP-diffBody" data-identical={String(diff.identical)}>
      {diff.identical ? <div className="jp-DSP-empty">These two versions have the same parameters and steps.</div> : null}
      <h3>Parameters</h3>
      {diff.params.length ? (
        <table className="jp-DSP-table jp-DSP-diffParams">
          <thead>
            <tr>
              <th>Parameter</th>
              <th>Change</th>
              <th>{before.display_name || 'before'}</th>
              <th>{after.display_name || 'after'}</th>
            </tr>
          </thead>
          <tbody>
            {diff.params.map(p => (
              <tr key={p.name} data-param={p.name} data-change={p.change} className={`jp-DSP-diff-${p.change}`}>
                <th>{p.name}</th>
                <td>{p.change === 'changed' ? 'changed default or type' : p.change}</td>
                <td>
                  <code>{p.before ?? '—'}</code>
                </td>
                <td>
                  <code>{p.after ?? '—'}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <div className="jp-DSP-empty">No parameter changed.</div>
      )}
      <h3>Steps</h3>
      {diff.steps.length ? (
        <ul className="jp-DSP-diffSteps">
          {diff.steps.map(s => {
            const lines = s.codeBefore !== undefined ? changedLines(s.codeBefore, s.codeAfter ?? '') : null;
            return (
              <li key={s.task} data-task={s.task} data-change={s.change} className={`jp-DSP-diff-${s.change}`}>
                <b>{s.task}</b>: {s.change === 'changed' ? `changed ${s.kinds.join(', ')}` : s.change}
                {s.kinds.includes('image') ? (
                  <div className="jp-DSP-row-meta">
                    image <code>{s.imageBefore}</code> → <code>{s.imageAfter}</code>
                  </div>
                ) : null}
                {lines && (lines.removed.length || lines.added.length) ? (
                  <pre className="jp-DSP-diffCode">
                    {lines.removed.slice(0, 40).map((l, i) => (
                      <div key={`r${i}`} className="jp-DSP-diffLine-removed">
                        - {l}
                      </div>
                    ))}
                    {lines.added.slice(0, 40).map((l, i) => (
                      <div key={`a${i}`} className="jp-DSP-diffLine-added">
                        + {l}
                      </div>
                    ))}
                  </pre>
                ) : null}
              </li>
            );
          })}
        </ul>
      ) : (
        <div className="jp-DSP-empty">No step added, removed or changed.</div>
      )}
      <h3>Graphs</h3>
      <div className="jp-DSP-diffGraphs">
        <div className="jp-DSP-diffSide">
          <div className="jp-DSP-section-title">{versionLabel(before)}</div>
          <div className="jp-DSP-dagScroll">
            <DiffDag nodes={nodesBefore} marks={marksBefore} side="before" />
          </div>
        </div>
        <div className="jp-DSP-diffSide">
          <div className="jp-DSP-section-title">{versionLabel(after)}</div>
          <div className="jp-DSP-dagScroll">
            <DiffDag nodes={nodesAfter} marks={marksAfter} side="after" />
          </div>
        </div>
      </div>
      <div className="jp-DSP-diffLegend">
        <span className="jp-DSP-diff-added">+ added</span> <span className="jp-DSP-diff-removed">− removed</span>{' '}
        <span className="jp-DSP-diff-changed">~ changed</span>
      </div>
    </div>
  );
}

function DiffView(props: { model: DSPModel; space: SpaceName; pipeline: IPipeline }): JSX.Element {
  const { model, space, pipeline } = props;
  const [versions, setVersions] = React.useState<IPipelineVersion[] | null>(null);
  const [left, setLeft] = React.useState('');
  const [right, setRight] = React.useState('');
  const [specs, setSpecs] = React.useState<[IPipelineVersion, IPipelineVersion] | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const [retry, setRetry] = React.useState(0);

  React.useEffect(() => {
    model.client
      .listVersions(space, pipeline.pipeline_id, { pageSize: 200, sortBy: 'created_at desc' })
      .then(page => {
        const list = page.pipeline_versions ?? [];
        setVersions(list);
        if (list.length >= 2) {
          setRight(list[0].pipeline_version_id);
          setLeft(list[1].pipeline_version_id);
        }
        setError(null);
      })
      .catch(reason => setError(`Cannot list the versions: ${message(reason)}`));
  }, [model, space, pipeline.pipeline_id, retry]);

  React.useEffect(() => {
    if (!left || !right) {
      return;
    }
    let cancelled = false;
    setSpecs(null);
    Promise.all([
      model.client.getVersion(space, pipeline.pipeline_id, left),
      model.client.getVersion(space, pipeline.pipeline_id, right)
    ])
      .then(([a, b]) => !cancelled && setSpecs([a, b]))
      .catch(reason => !cancelled && setError(`Cannot read the versions: ${message(reason)}`));
    return () => {
      cancelled = true;
    };
  }, [model, space, pipeline.pipeline_id, left, right]);

  const select = (value: string, onChange: (v: string) => void, name: string): JSX.Element => (
    <select className="jp-mod-styled" name={name} value={value} onChange={e => onChange(e.target.value)}>
      {(versions ?? []).map(v => (
        <option key={v.pipeline_version_id} value={v.pipeline_version_id}>
          {versionLabel(v)}
        </option>
      ))}
    </select>
  );

  return (
    <div className="jp-DSP-diffView" data-pipeline-id={pipeline.pipeline_id}>
      <h2 className="jp-DSP-runTitle">Compare versions of {pipelineLabel(pipeline)}</h2>
      {error ? <ErrorBox error={error} onRetry={() => setRetry(r => r + 1)} /> : null}
      {versions && versions.length < 2 ? (
        <div className="jp-DSP-error" role="alert">
          This pipeline has {versions.length === 1 ? 'only one version' : 'no versions'}: upload a new version to
          compare.
        </div>
      ) : null}
      {versions && versions.length >= 2 ? (
        <div className="jp-DSP-diffPick">
          {select(left, setLeft, 'before')} → {select(right, setRight, 'after')}
          {left === right ? <span className="jp-DSP-field-error"> Choose two different versions.</span> : null}
        </div>
      ) : null}
      {!versions && !error ? <div className="jp-DSP-empty">Loading versions…</div> : null}
      {specs && left !== right ? <DiffBody before={specs[0]} after={specs[1]} /> : null}
    </div>
  );
}

export class DiffWidget extends ReactWidget {
  constructor(
    private readonly model: DSPModel,
    readonly space: SpaceName,
    readonly pipeline: IPipeline
  ) {
    super();
    this.addClass('jp-DSP-diffWidget');
  }

  render(): JSX.Element {
    return <DiffView model={this.model} space={this.space} pipeline={this.pipeline} />;
  }
}

export function createDiffView(model: DSPModel, space: SpaceName, pipeline: IPipeline): MainAreaWidget<DiffWidget> {
  const widget = new MainAreaWidget({ content: new DiffWidget(model, space, pipeline) });
  widget.id = `jupyter-dsp-diff-${space}-${pipeline.pipeline_id}`;
  widget.title.label = `Versions: ${pipelineLabel(pipeline)}`;
  widget.title.closable = true;
  return widget;
}
