/**
 * Compare two versions of a pipeline in the main area, from the server's `dsp/diff` (the same
 * comparison as `%dsp diff`): parameters added, removed or with a changed type or default;
 * components added or removed; components whose code, image or interface changed (with the
 * code's unified diff); and the two task graphs side by side with the changed tasks marked.
 */
import { MainAreaWidget } from '@jupyterlab/apputils';
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { errorText } from '../common/api';
import { formatShortTime, pipelineLabel, typeWord } from '../common/format';
import { DSPModel } from '../common/model';
import { IDagNode } from '../common/spec';
import { IPipeline, IPipelineVersion, SpaceName } from '../common/types';
import { ErrorBox } from '../components/ErrorBox';
import { fetchVersionDiff, IDagSide, IVersionDiff, layoutSide, NodeStatus, showValue } from './versionDiff';

const NODE_W = 150;
const NODE_H = 30;
const GAP_X = 18;
const GAP_Y = 32;
const MARK: Record<NodeStatus, string> = { added: '+ ', removed: '− ', changed: '~ ', same: '' };

function versionLabel(v: { display_name?: string; name?: string; pipeline_version_id: string; created_at?: string }): string {
  const when = formatShortTime(v.created_at);
  return `${v.display_name || v.name || v.pipeline_version_id}${when ? ` (${when})` : ''}`;
}

function DiffDag(props: { side: IDagSide; which: 'before' | 'after' }): JSX.Element {
  const { nodes, status } = React.useMemo(() => layoutSide(props.side), [props.side]);
  if (!nodes.length) {
    return <div className="jp-DSP-empty">No tasks.</div>;
  }
  const layers = Math.max(...nodes.map((n: IDagNode) => n.layer)) + 1;
  const widest = Math.max(...nodes.map((n: IDagNode) => n.index)) + 1;
  const width = widest * (NODE_W + GAP_X) + GAP_X;
  const height = layers * (NODE_H + GAP_Y) + GAP_Y / 2;
  const pos = new Map(
    nodes.map(n => [n.key, { x: GAP_X + n.index * (NODE_W + GAP_X), y: GAP_Y / 2 + n.layer * (NODE_H + GAP_Y) }])
  );
  return (
    <svg className="jp-DSP-dag jp-DSP-diffDag" data-side={props.which} width={width} height={height} role="img">
      {nodes.flatMap(n =>
        n.dependsOn.map(dep => {
          const a = pos.get(dep)!;
          const b = pos.get(n.key)!;
          const y1 = a.y + NODE_H;
          const mid = (y1 + b.y) / 2;
          const x1 = a.x + NODE_W / 2;
          const x2 = b.x + NODE_W / 2;
          return (
            <path
              key={`${dep}->${n.key}`}
              className="jp-DSP-dag-edge"
              d={`M${x1},${y1} C${x1},${mid} ${x2},${mid} ${x2},${b.y}`}
            />
          );
        })
      )}
      {nodes.map(n => {
        const p = pos.get(n.key)!;
        const mark: NodeStatus = status[n.key] ?? 'same';
        const label = n.label.length > 19 ? n.label.slice(0, 18) + '…' : n.label;
        return (
          <g
            key={n.key}
            className={`jp-DSP-dag-node jp-DSP-diff-node jp-DSP-diff-${mark}`}
            data-task={n.key}
            data-change={mark === 'same' ? '' : mark}
            transform={`translate(${p.x},${p.y})`}
          >
            <title>
              {n.label}: {mark === 'same' ? 'unchanged' : mark}
            </title>
            <rect width={NODE_W} height={NODE_H} rx={6} />
            <text x={8} y={NODE_H / 2 + 4}>
              {MARK[mark]}
              {label}
            </text>
          </g>
        );
      })}
    </svg>
  );
}

function CodeDiff(props: { text: string }): JSX.Element {
  const lines = props.text.split('\n').filter(l => l && !l.startsWith('---') && !l.startsWith('+++'));
  return (
    <pre className="jp-DSP-diffCode">
      {lines.slice(0, 120).map((line, i) => (
        <div
          key={i}
          className={
            line.startsWith('+') ? 'jp-DSP-diffLine-added' : line.startsWith('-') ? 'jp-DSP-diffLine-removed' : line.startsWith('@@') ? 'jp-DSP-diffLine-hunk' : ''
          }
        >
          {line}
        </div>
      ))}
      {lines.length > 120 ? <div>… {lines.length - 120} more lines</div> : null}
    </pre>
  );
}

function DiffBody(props: { diff: IVersionDiff }): JSX.Element {
  const { diff } = props;
  const { parameters: p, components: c } = diff;
  const oldName = diff.old.display_name || 'before';
  const newName = diff.new.display_name || 'after';
  const paramRows = [
    ...p.added.map(x => ({ name: x.name, change: 'added', before: '—', after: `${typeWord(x.type)}${'default' in x ? ` = ${showValue(x.default)}` : ''}` })),
    ...p.removed.map(x => ({ name: x.name, change: 'removed', before: `${typeWord(x.type)}${'default' in x ? ` = ${showValue(x.default)}` : ''}`, after: '—' })),
    ...p.changed.map(x => ({
      name: x.name,
      change: 'changed',
      before: `${typeWord(x.old_type)}${'old_default' in x ? ` = ${showValue(x.old_default)}` : ''}`,
      after: `${typeWord(x.new_type)}${'new_default' in x ? ` = ${showValue(x.new_default)}` : ''}`
    }))
  ];
  const nComponents = c.added.length + c.removed.length + c.changed.length;
  return (
    <div className="jp-DSP-diffBody" data-identical={String(!diff.changed)}>
      {!diff.changed ? <div className="jp-DSP-empty">These two versions are the same.</div> : null}
      <h3>Parameters</h3>
      {paramRows.length ? (
        <table className="jp-DSP-table jp-DSP-diffParams">
          <thead>
            <tr>
              <th>Parameter</th>
              <th>Change</th>
              <th>{oldName}</th>
              <th>{newName}</th>
            </tr>
          </thead>
          <tbody>
            {paramRows.map(row => (
              <tr key={row.name} data-param={row.name} data-change={row.change} className={`jp-DSP-diff-${row.change}`}>
                <th>{row.name}</th>
                <td>{row.change === 'changed' ? 'changed default or type' : row.change}</td>
                <td>
                  <code>{row.before}</code>
                </td>
                <td>
                  <code>{row.after}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <div className="jp-DSP-empty">No parameter changed.</div>
      )}
      <h3>Components</h3>
      {nComponents ? (
        <ul className="jp-DSP-diffSteps">
          {c.added.map(x => (
            <li key={x.name} data-component={x.name} data-change="added" className="jp-DSP-diff-added">
              <b>{x.name}</b>: added{x.image ? <span className="jp-DSP-row-meta"> (image {x.image})</span> : null}
            </li>
          ))}
          {c.removed.map(x => (
            <li key={x.name} data-component={x.name} data-change="removed" className="jp-DSP-diff-removed">
              <b>{x.name}</b>: removed
            </li>
          ))}
          {c.changed.map(x => {
            const what = [
              x.code_changed ? 'code' : '',
              x.old_image !== x.new_image ? 'image' : '',
              x.interface_changed ? 'inputs/outputs' : ''
            ].filter(Boolean);
            return (
              <li key={x.name} data-component={x.name} data-change="changed" className="jp-DSP-diff-changed">
                <b>{x.name}</b>: changed {what.join(', ')}
                {x.old_image !== x.new_image ? (
                  <div className="jp-DSP-row-meta">
                    image <code>{x.old_image}</code> → <code>{x.new_image}</code>
                  </div>
                ) : null}
                {x.code_changed && x.code_diff ? <CodeDiff text={x.code_diff} /> : null}
              </li>
            );
          })}
        </ul>
      ) : (
        <div className="jp-DSP-empty">No component added, removed or changed.</div>
      )}
      <h3>Graphs</h3>
      <div className="jp-DSP-diffGraphs">
        {(
          [
            [diff.old, diff.dag.old, 'before'],
            [diff.new, diff.dag.new, 'after']
          ] as const
        ).map(([version, side, which]) => (
          <div key={which} className="jp-DSP-diffSide">
            <div className="jp-DSP-section-title">{versionLabel(version)}</div>
            <div className="jp-DSP-dagScroll">
              <DiffDag side={side} which={which} />
            </div>
          </div>
        ))}
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
  const [diff, setDiff] = React.useState<IVersionDiff | null>(null);
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
      .catch(reason => setError(`Cannot list the versions: ${errorText(reason)}`));
  }, [model, space, pipeline.pipeline_id, retry]);

  React.useEffect(() => {
    if (!left || !right || left === right) {
      return;
    }
    let cancelled = false;
    setDiff(null);
    fetchVersionDiff(model.client, space, pipeline.pipeline_id, left, right)
      .then(d => {
        if (!cancelled) {
          setDiff(d);
          setError(null);
        }
      })
      .catch(reason => !cancelled && setError(`Cannot compare the versions: ${errorText(reason)}`));
    return () => {
      cancelled = true;
    };
  }, [model, space, pipeline.pipeline_id, left, right, retry]);

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
      {diff && left !== right ? <DiffBody diff={diff} /> : null}
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
