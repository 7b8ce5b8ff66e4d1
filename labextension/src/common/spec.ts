/**
 * Reading a compiled KFP pipeline spec (IR): the root inputs a run needs, and
 * the root DAG's tasks with their dependencies laid out in layers.
 */

export type ParameterType = 'STRING' | 'NUMBER_INTEGER' | 'NUMBER_DOUBLE' | 'BOOLEAN' | 'LIST' | 'STRUCT';

export interface IInputField {
  name: string;
  type: ParameterType;
  description: string;
  required: boolean;
  /** Default from the spec, as the text the form shows ('' when none). */
  defaultText: string;
  hasDefault: boolean;
}

/** A version's pipeline_spec may be the IR itself or `{pipeline_spec, platform_spec}`. */
export function unwrapSpec(spec: Record<string, any> | undefined): Record<string, any> {
  if (spec && typeof spec.pipeline_spec === 'object' && spec.pipeline_spec !== null && !spec.root) {
    return spec.pipeline_spec;
  }
  return spec ?? {};
}

function defaultToText(type: ParameterType, value: unknown): string {
  if (value === undefined || value === null) {
    return '';
  }
  if (type === 'LIST' || type === 'STRUCT') {
    return JSON.stringify(value);
  }
  return String(value);
}

/** The root input parameters of a pipeline, in spec order. Artifact inputs cannot be set by a run form. */
export function rootInputs(spec: Record<string, any> | undefined): IInputField[] {
  const params = unwrapSpec(spec)?.root?.inputDefinitions?.parameters ?? {};
  // By name: a spec that went through a protobuf Struct has lost its key order.
  const entries = Object.entries<any>(params).sort(([a], [b]) => a.localeCompare(b));
  return entries.map(([name, def]) => {
    const type = (def?.parameterType ?? 'STRING') as ParameterType;
    const hasDefault = def?.defaultValue !== undefined;
    return {
      name,
      type,
      description: def?.description ?? '',
      required: !hasDefault && !def?.isOptional,
      defaultText: defaultToText(type, def?.defaultValue),
      hasDefault
    };
  });
}

/** Artifact inputs of the root: a run from the panel cannot provide them. */
export function rootArtifactInputs(spec: Record<string, any> | undefined): string[] {
  return Object.keys(unwrapSpec(spec)?.root?.inputDefinitions?.artifacts ?? {});
}

export type ParseResult = { ok: true; value: unknown; omit: boolean } | { ok: false; error: string };

/** Turn the text of one form field into the parameter value, or say what is wrong with it. */
export function parseInput(field: IInputField, text: string): ParseResult {
  const raw = field.type === 'BOOLEAN' ? text : text.trim();
  if (raw === '') {
    if (field.required) {
      return { ok: false, error: 'Required' };
    }
    return { ok: true, value: undefined, omit: true };
  }
  switch (field.type) {
    case 'NUMBER_INTEGER': {
      if (!/^[-+]?\d+$/.test(raw)) {
        return { ok: false, error: 'Enter a whole number' };
      }
      const value = Number(raw);
      if (!Number.isSafeInteger(value)) {
        return { ok: false, error: 'Number too large' };
      }
      return { ok: true, value, omit: false };
    }
    case 'NUMBER_DOUBLE': {
      const value = Number(raw);
      if (!Number.isFinite(value) || !/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(raw)) {
        return { ok: false, error: 'Enter a number' };
      }
      return { ok: true, value, omit: false };
    }
    case 'BOOLEAN':
      if (raw !== 'true' && raw !== 'false') {
        return { ok: false, error: 'Choose true or false' };
      }
      return { ok: true, value: raw === 'true', omit: false };
    case 'LIST':
    case 'STRUCT': {
      let value: unknown;
      try {
        value = JSON.parse(raw);
      } catch {
        return { ok: false, error: field.type === 'LIST' ? 'Enter a JSON list, e.g. [1, 2]' : 'Enter a JSON object, e.g. {"k": 1}' };
      }
      if (field.type === 'LIST' && !Array.isArray(value)) {
        return { ok: false, error: 'Enter a JSON list, e.g. [1, 2]' };
      }
      if (field.type === 'STRUCT' && (typeof value !== 'object' || value === null || Array.isArray(value))) {
        return { ok: false, error: 'Enter a JSON object, e.g. {"k": 1}' };
      }
      return { ok: true, value, omit: false };
    }
    default:
      return { ok: true, value: text, omit: false };
  }
}

export interface IDagNode {
  /** Key of the task in the root DAG. */
  key: string;
  /** Name shown: taskInfo.name or the key. */
  label: string;
  dependsOn: string[];
  layer: number;
  /** Position within its layer. */
  index: number;
}

/**
 * The root DAG's tasks in layers: a task sits one layer below the deepest task
 * it depends on (dependentTasks), tasks of a layer keep spec order.
 */
export function layoutDag(spec: Record<string, any> | undefined): IDagNode[] {
  const tasks: Record<string, any> = unwrapSpec(spec)?.root?.dag?.tasks ?? {};
  const keys = Object.keys(tasks);
  const known = new Set(keys);
  const deps = new Map<string, string[]>();
  for (const key of keys) {
    const list: string[] = Array.isArray(tasks[key]?.dependentTasks) ? tasks[key].dependentTasks : [];
    deps.set(key, list.filter(d => known.has(d) && d !== key));
  }
  const layer = new Map<string, number>();
  const visiting = new Set<string>();
  const depth = (key: string): number => {
    const cached = layer.get(key);
    if (cached !== undefined) {
      return cached;
    }
    if (visiting.has(key)) {
      return 0; // a cycle cannot come from the compiler; do not loop on a hand-written one
    }
    visiting.add(key);
    let d = 0;
    for (const dep of deps.get(key) ?? []) {
      d = Math.max(d, depth(dep) + 1);
    }
    visiting.delete(key);
    layer.set(key, d);
    return d;
  };
  const counts = new Map<number, number>();
  return keys.map(key => {
    const l = depth(key);
    const index = counts.get(l) ?? 0;
    counts.set(l, index + 1);
    return {
      key,
      label: tasks[key]?.taskInfo?.name ?? key,
      dependsOn: deps.get(key) ?? [],
      layer: l,
      index
    };
  });
}
