/** Small text helpers shared by the panel and the run view. */

/** An RFC 3339 time as a Date, or null when absent, unreadable or the zero time. */
function dateOf(value: string | undefined): Date | null {
  const date = value ? new Date(value) : null;
  return date && !Number.isNaN(date.getTime()) && date.getTime() > 0 ? date : null;
}

/** Compact local time, "2026-11-21 15:30", for list rows. */
export function formatShortTime(value: string | undefined): string {
  const date = dateOf(value);
  if (!date) {
    return '';
  }
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(
    date.getMinutes()
  )}`;
}

export function formatTime(value: string | undefined): string {
  return dateOf(value)?.toLocaleString() ?? '';
}

/** Duration between two RFC 3339 times (end defaults to now), like "1m 05s"; '' when unknown. */
export function formatDuration(start: string | undefined, end: string | undefined, now: number = Date.now()): string {
  if (!start) {
    return '';
  }
  const from = new Date(start).getTime();
  const endTime = end ? new Date(end).getTime() : NaN;
  const to = Number.isFinite(endTime) && endTime > 0 ? endTime : now;
  if (!Number.isFinite(from) || from <= 0 || to < from) {
    return '';
  }
  const seconds = Math.round((to - from) / 1000);
  if (seconds < 60) {
    return `${seconds}s`;
  }
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) {
    return `${minutes}m ${String(seconds % 60).padStart(2, '0')}s`;
  }
  return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, '0')}m`;
}

export function stateLabel(state: string | undefined): string {
  if (!state || state === 'RUNTIME_STATE_UNSPECIFIED') {
    return 'Unknown';
  }
  return state.charAt(0) + state.slice(1).toLowerCase();
}

export function pipelineLabel(item: { display_name?: string; name?: string; pipeline_id?: string }): string {
  return item.display_name || item.name || item.pipeline_id || '(unnamed)';
}

/** A number as people read it: `0.09999999999999998` is 0.1; integers stay whole. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value) || Number.isInteger(value)) {
    return String(value);
  }
  return String(Number(value.toPrecision(6)));
}

/** A parameter value for display: strings as they are, numbers rounded (also inside lists). */
export function formatValue(value: unknown): string {
  if (typeof value === 'string') {
    return value;
  }
  if (typeof value === 'number') {
    return formatNumber(value);
  }
  if (value === undefined) {
    return '';
  }
  return JSON.stringify(value, (_key, v) => (typeof v === 'number' && !Number.isInteger(v) ? Number(v.toPrecision(6)) : v));
}

const TYPE_WORDS: Record<string, string> = {
  NUMBER_DOUBLE: 'float',
  NUMBER_INTEGER: 'int',
  STRING: 'str',
  BOOLEAN: 'bool',
  LIST: 'list',
  STRUCT: 'dict',
  PARAMETER_TYPE_ENUM_UNSPECIFIED: 'any'
};

/** KFP's parameter type in the words of the Python that declared it (`float`, not `NUMBER_DOUBLE`). */
export function typeWord(type: string | undefined): string {
  return TYPE_WORDS[type ?? ''] ?? type ?? '';
}

const NAME_WORDS = (
  'acorn amber anvil aspen badger basil birch bison cedar cobalt comet coral crane cricket ' +
  'delta dune eagle ember falcon fern fjord flint gecko ginger glacier harbor hazel heron ' +
  'indigo iris jade juniper kelp kestrel lark lemon lotus lynx maple marble meadow mint ' +
  'nectar nova oak olive onyx orchid otter pebble pepper pine plum quartz quill raven reef ' +
  'robin saffron sage sparrow spruce tango thistle tulip umber velvet violet walnut willow ' +
  'wren yarrow zephyr zinc'
).split(' ');

/** A run's default name, as the kernel makes it (jupyter_dsp/stack/naming.py): the pipeline
 * and a short suffix a person can read and tell apart, `my-pipeline otter-3f`. */
export function readableRunName(title: string): string {
  const random = new Uint8Array(2);
  crypto.getRandomValues(random);
  const word = NAME_WORDS[random[0] % NAME_WORDS.length];
  return `${title} ${word}-${random[1].toString(16).padStart(2, '0')}`;
}
