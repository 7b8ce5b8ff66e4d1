/**
 * The parameters a run ran with: those it was given, and for the rest the defaults of its
 * pipeline spec (marked "default"), so a run started with every default does not read
 * "No parameters".
 */
import * as React from 'react';

import { formatValue, typeWord } from '../common/format';
import { rootInputs, unwrapSpec } from '../common/spec';
import { IRun } from '../common/types';

export interface IRunParam {
  name: string;
  value: unknown;
  type: string;
  fromDefault: boolean;
}

/** Given values first by name, then the spec's defaults for the inputs not given. */
export function runParameters(run: IRun, spec: Record<string, any> | null): IRunParam[] {
  const given = run.runtime_config?.parameters ?? {};
  const inputs = rootInputs(spec ?? undefined);
  const types = new Map(inputs.map(i => [i.name, i.type as string]));
  const out: IRunParam[] = Object.entries(given).map(([name, value]) => ({
    name,
    value,
    type: types.get(name) ?? '',
    fromDefault: false
  }));
  const defaults = unwrapDefaults(spec);
  for (const input of inputs) {
    if (!(input.name in given) && input.hasDefault) {
      out.push({ name: input.name, value: defaults[input.name], type: input.type, fromDefault: true });
    }
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

function unwrapDefaults(spec: Record<string, any> | null): Record<string, unknown> {
  const params: Record<string, any> = unwrapSpec(spec ?? undefined)?.root?.inputDefinitions?.parameters ?? {};
  return Object.fromEntries(Object.entries(params).map(([name, def]) => [name, def?.defaultValue]));
}

export function RunParams(props: { run: IRun; spec: Record<string, any> | null; specFailed?: boolean }): JSX.Element {
  const params = runParameters(props.run, props.spec);
  if (!params.length) {
    return <div className="jp-DSP-empty">{props.spec || props.specFailed ? 'No parameters.' : 'Loading parameters…'}</div>;
  }
  return (
    <table className="jp-DSP-table jp-DSP-params">
      <tbody>
        {params.map(p => (
          <tr key={p.name} data-name={p.name} data-default={String(p.fromDefault)}>
            <th title={p.type ? `${p.name}: ${typeWord(p.type)}` : p.name}>{p.name}</th>
            <td>
              {formatValue(p.value)}
              {p.fromDefault ? (
                <span className="jp-DSP-tag" title="Not given when the run started: the pipeline's default">
                  default
                </span>
              ) : null}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
