/**
 * What changed between two compiled pipeline specs (two versions of a pipeline): root
 * parameters added, removed or with a changed type or default; steps (root DAG tasks) added
 * or removed; steps whose component code (command and arguments), image or interface changed.
 * Pure functions; the diff view draws the result.
 */
import { unwrapSpec } from './spec';

export interface IParamChange {
  name: string;
  change: 'added' | 'removed' | 'changed';
  before?: string;
  after?: string;
}

export type StepChangeKind = 'code' | 'image' | 'interface' | 'wiring';

export interface IStepChange {
  task: string;
  change: 'added' | 'removed' | 'changed';
  kinds: StepChangeKind[];
  imageBefore?: string;
  imageAfter?: string;
  codeBefore?: string;
  codeAfter?: string;
}

export interface ISpecDiff {
  params: IParamChange[];
  steps: IStepChange[];
  /** Task key -> change, for marking the DAG nodes. */
  marks: Record<string, 'added' | 'removed' | 'changed'>;
  identical: boolean;
}

function stable(value: unknown): string {
  if (value === undefined) {
    return '';
  }
  if (Array.isArray(value)) {
    return `[${value.map(stable).join(',')}]`;
  }
  if (value && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    return `{${Object.keys(obj)
      .sort()
      .map(k => `${JSON.stringify(k)}:${stable(obj[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

function paramText(def: Record<string, any> | undefined): string {
  if (!def) {
    return '';
  }
  const type = def.parameterType ?? '';
  const dflt = 'defaultValue' in def ? ` = ${JSON.stringify(def.defaultValue)}` : def.isOptional ? ' (optional)' : '';
  return `${type}${dflt}`;
}

interface IStepInfo {
  image: string;
  code: string;
  iface: string;
  wiring: string;
}

function stepInfo(ir: Record<string, any>, taskKey: string): IStepInfo {
  const task = ir.root?.dag?.tasks?.[taskKey] ?? {};
  const compName: string = task.componentRef?.name ?? '';
  const component = ir.components?.[compName] ?? {};
  const executor = ir.deploymentSpec?.executors?.[component.executorLabel ?? ''] ?? {};
  const container = executor.container ?? {};
  const code = [...(container.command ?? []), ...(container.args ?? [])].join('\n');
  return {
    image: String(container.image ?? (executor.importer ? 'importer' : component.dag ? 'sub-pipeline' : '')),
    code: code || stable(executor.importer ?? component.dag ?? {}),
    iface: stable({ in: component.inputDefinitions, out: component.outputDefinitions }),
    wiring: stable({ inputs: task.inputs, deps: task.dependentTasks, trigger: task.triggerPolicy, it: task.iterator })
  };
}

/** The diff from spec `a` (older) to spec `b` (newer). */
export function diffSpecs(a: Record<string, any> | undefined, b: Record<string, any> | undefined): ISpecDiff {
  const ia = unwrapSpec(a) ?? {};
  const ib = unwrapSpec(b) ?? {};
  const pa: Record<string, any> = ia.root?.inputDefinitions?.parameters ?? {};
  const pb: Record<string, any> = ib.root?.inputDefinitions?.parameters ?? {};
  const params: IParamChange[] = [];
  for (const name of Object.keys(pb)) {
    if (!(name in pa)) {
      params.push({ name, change: 'added', after: paramText(pb[name]) });
    } else if (stable(pa[name]) !== stable(pb[name])) {
      params.push({ name, change: 'changed', before: paramText(pa[name]), after: paramText(pb[name]) });
    }
  }
  for (const name of Object.keys(pa)) {
    if (!(name in pb)) {
      params.push({ name, change: 'removed', before: paramText(pa[name]) });
    }
  }
  const ta: Record<string, any> = ia.root?.dag?.tasks ?? {};
  const tb: Record<string, any> = ib.root?.dag?.tasks ?? {};
  const steps: IStepChange[] = [];
  const marks: ISpecDiff['marks'] = {};
  for (const key of Object.keys(tb)) {
    if (!(key in ta)) {
      steps.push({ task: key, change: 'added', kinds: [], imageAfter: stepInfo(ib, key).image });
      marks[key] = 'added';
      continue;
    }
    const before = stepInfo(ia, key);
    const after = stepInfo(ib, key);
    const kinds: StepChangeKind[] = [];
    if (before.code !== after.code) {
      kinds.push('code');
    }
    if (before.image !== after.image) {
      kinds.push('image');
    }
    if (before.iface !== after.iface) {
      kinds.push('interface');
    }
    if (before.wiring !== after.wiring) {
      kinds.push('wiring');
    }
    if (kinds.length) {
      steps.push({
        task: key,
        change: 'changed',
        kinds,
        imageBefore: before.image,
        imageAfter: after.image,
        codeBefore: kinds.includes('code') ? before.code : undefined,
        codeAfter: kinds.includes('code') ? after.code : undefined
      });
      marks[key] = 'changed';
    }
  }
  for (const key of Object.keys(ta)) {
    if (!(key in tb)) {
      steps.push({ task: key, change: 'removed', kinds: [], imageBefore: stepInfo(ia, key).image });
      marks[key] = 'removed';
    }
  }
  return { params, steps, marks, identical: params.length === 0 && steps.length === 0 };
}

/** The lines of `after` not in `before` and the reverse: a compact view of changed code. */
export function changedLines(before: string, after: string): { removed: string[]; added: string[] } {
  const a = before.split('\n');
  const b = after.split('\n');
  const inA = new Set(a);
  const inB = new Set(b);
  return {
    removed: a.filter(line => !inB.has(line) && line.trim()),
    added: b.filter(line => !inA.has(line) && line.trim())
  };
}
