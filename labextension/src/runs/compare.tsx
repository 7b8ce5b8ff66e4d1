/**
 * Compare runs: parameters, pipeline outputs and metrics side by side (a column per run, rows
 * that differ highlighted), then a chart of each metric across the runs (as `%dsp compare`).
 */
import { MainAreaWidget } from '@jupyterlab/apputils';
import { ReactWidget, tableRowsIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import { errorText } from '../common/api';
import { DSPModel } from '../common/model';
import { IRun } from '../common/types';
import { ErrorBox } from '../components/ErrorBox';
import { StateBadge } from '../components/StateBadge';
import { VegaChart } from '../results/charts';
import { compareMetricSpec, fetchResults, IResults, runMetrics, valueText } from '../results/resultsModel';

interface ICompared {
  run: IRun;
  results: IResults | null;
  error: string | null;
}

type Rows = [string, Record<string, unknown>][];

/** name -> {run label: value}, names sorted. */
function table(labels: string[], items: Record<string, unknown>[]): Rows {
  const names = [...new Set(items.flatMap(i => Object.keys(i)))].sort();
  return names.map(name => [name, Object.fromEntries(labels.map((l, i) => [l, items[i][name]]))]);
}

function differs(values: Record<string, unknown>): boolean {
  return new Set(Object.values(values).map(v => JSON.stringify(v ?? null))).size > 1;
}

export function labelsOf(runs: IRun[]): string[] {
  const names = runs.map(r => r.display_name || r.run_id);
  return names.map((n, i) => (names.filter(m => m === n).length > 1 ? `${n} (${runs[i].run_id.slice(0, 8)})` : n));
}

function Section(props: { title: string; rows: Rows; labels: string[] }): JSX.Element | null {
  if (!props.rows.length) {
    return null;
  }
  return (
    <>
      <tr className="jp-DSP-compareGroup">
        <th colSpan={props.labels.length + 1}>{props.title}</th>
      </tr>
      {props.rows.map(([name, values]) => {
        const diff = differs(values);
        return (
          <tr key={`${props.title}:${name}`} data-name={name} data-differs={String(diff)} className={diff ? 'jp-DSP-differs' : ''}>
            <th title={diff ? 'differs between the runs' : ''}>{name}</th>
            {props.labels.map(l => (
              <td key={l}>{values[l] === undefined ? '-' : valueText(values[l])}</td>
            ))}
          </tr>
        );
      })}
    </>
  );
}

function CompareView(props: { model: DSPModel; runIds: string[] }): JSX.Element {
  const { model, runIds } = props;
  const [items, setItems] = React.useState<ICompared[] | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const [tick, setTick] = React.useState(0);
  React.useEffect(() => {
    let cancelled = false;
    Promise.all(
      runIds.map(async id => {
        const run = await model.client.getRun(id);
        try {
          return { run, results: await fetchResults(model.client.settings, id), error: null };
        } catch (reason) {
          return { run, results: null, error: errorText(reason) };
        }
      })
    )
      // oldest first, as runs happened
      .then(found => !cancelled && setItems(found.sort((a, b) => (a.run.created_at ?? '').localeCompare(b.run.created_at ?? ''))))
      .catch(reason => !cancelled && setError(errorText(reason)));
    return () => {
      cancelled = true;
    };
  }, [model, runIds.join(','), tick]);

  if (error) {
    return <ErrorBox error={`Cannot load the runs: ${error}`} onRetry={() => setTick(t => t + 1)} />;
  }
  if (!items) {
    return <div className="jp-DSP-empty">Loading {runIds.length} runs…</div>;
  }
  const labels = labelsOf(items.map(i => i.run));
  const parameters = table(labels, items.map(i => i.run.runtime_config?.parameters ?? {}));
  const outputs = table(labels, items.map(i => i.results?.pipeline_outputs.parameters ?? {}));
  const metrics = table(labels, items.map(i => (i.results ? runMetrics(i.results) : {})));
  const changed = [...parameters, ...outputs, ...metrics].filter(([, v]) => differs(v)).length;
  return (
    <div className="jp-DSP-compare" data-runs={items.length}>
      <h2>Comparing {items.length} runs</h2>
      <div className="jp-DSP-row-meta">
        {changed === 1 ? '1 value differs' : `${changed} values differ`} (
        <span className="jp-DSP-differs">highlighted</span>)
      </div>
      {items
        .filter(i => i.error)
        .map(i => (
          <div key={i.run.run_id} className="jp-DSP-error">
            {i.run.display_name}: results unavailable: {i.error}
          </div>
        ))}
      <table className="jp-DSP-table jp-DSP-compareTable">
        <thead>
          <tr>
            <th />
            {labels.map(l => (
              <th key={l}>{l}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          <tr>
            <th>state</th>
            {items.map(i => (
              <td key={i.run.run_id}>
                <StateBadge state={i.run.state} />
              </td>
            ))}
          </tr>
          <Section title="Parameters" rows={parameters} labels={labels} />
          <Section title="Outputs" rows={outputs} labels={labels} />
          <Section title="Metrics" rows={metrics} labels={labels} />
        </tbody>
      </table>
      {metrics.length ? <h3>Metrics across the runs</h3> : <div className="jp-DSP-empty">These runs recorded no metrics.</div>}
      <div className="jp-DSP-chartRow jp-DSP-compareCharts">
        {metrics.map(([name, values]) => (
          <VegaChart
            key={name}
            kind="compare"
            spec={compareMetricSpec(
              name,
              labels.filter(l => typeof values[l] === 'number').map(l => ({ run: l, value: values[l] as number }))
            )}
          />
        ))}
      </div>
    </div>
  );
}

export class CompareWidget extends ReactWidget {
  constructor(
    private readonly model: DSPModel,
    readonly runIds: string[]
  ) {
    super();
    this.addClass('jp-DSP-compareWidget');
  }

  render(): JSX.Element {
    return <CompareView model={this.model} runIds={this.runIds} />;
  }
}

/** A main-area widget comparing `runIds`; the caller adds it to the shell. */
export function createCompareView(model: DSPModel, runIds: string[]): MainAreaWidget<CompareWidget> {
  const widget = new MainAreaWidget({ content: new CompareWidget(model, runIds) });
  widget.id = `jupyter-dsp-compare-${runIds.join('-').slice(0, 120)}`;
  widget.title.label = `Compare ${runIds.length} runs`;
  widget.title.icon = tableRowsIcon;
  widget.title.closable = true;
  return widget;
}
