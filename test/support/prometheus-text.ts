/**
 * A strict reader of the Prometheus text exposition format 0.0.4, for asserting on GET /metrics: every line
 * must be a `# HELP`, a `# TYPE` or a sample of the family declared just before it; names, label sets and
 * values must follow the grammar; each family has a non-empty help text and a type; histograms have
 * cumulative buckets ending at +Inf equal to their _count. Throws naming the line on the first violation.
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  samples: Sample[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL_NAME = '[a-zA-Z_][a-zA-Z0-9_]*';
const LABEL_VALUE = '"(?:[^"\\\\\\n]|\\\\[\\\\"n])*"';
/** As Prometheus reads values (Go's ParseFloat): NaN and Inf in any case (prom-client writes "Nan"). */
const VALUE = '(?:[+-]?(?:\\d+(?:\\.\\d*)?|\\.\\d+)(?:[eE][+-]?\\d+)?|[+-]?(?:[iI][nN][fF]|[nN][aA][nN]))';
const HELP_LINE = new RegExp(`^# HELP (${NAME}) (.*)$`);
const TYPE_LINE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`);
const SAMPLE_LINE = new RegExp(
  `^(${NAME})(?:\\{((?:${LABEL_NAME}=${LABEL_VALUE})(?:,${LABEL_NAME}=${LABEL_VALUE})*)?,?\\})? (${VALUE})(?: -?\\d+)?$`,
);
const LABEL = new RegExp(`(${LABEL_NAME})=(${LABEL_VALUE})`, 'g');

const SUFFIXES: Record<Family['type'], string[]> = {
  counter: ['', '_total'],
  gauge: [''],
  untyped: [''],
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['', '_sum', '_count'],
};

function unescape(quoted: string): string {
  return quoted.slice(1, -1).replace(/\\(["\\n])/g, (_m, c: string) => (c === 'n' ? '\n' : c));
}

function number(text: string): number {
  const lower = text.toLowerCase();
  if (lower === '+inf' || lower === 'inf') return Infinity;
  if (lower === '-inf') return -Infinity;
  if (lower.endsWith('nan')) return NaN;
  return Number(text);
}

export function parsePrometheusText(text: string): Map<string, Family> {
  if (!text.endsWith('\n')) throw new Error('the exposition does not end with a newline');
  const families = new Map<string, Family>();
  let current: Family | undefined;
  let pendingHelp: { name: string; help: string } | undefined;
  text
    .slice(0, -1)
    .split('\n')
    .forEach((line, index) => {
      const where = `line ${index + 1} (${JSON.stringify(line.slice(0, 120))})`;
      if (line === '') return;
      let m: RegExpExecArray | null;
      if ((m = HELP_LINE.exec(line))) {
        if (families.has(m[1])) throw new Error(`${where}: ${m[1]} declared twice`);
        if (m[2].trim() === '') throw new Error(`${where}: ${m[1]} has an empty help text`);
        pendingHelp = { name: m[1], help: m[2] };
        return;
      }
      if ((m = TYPE_LINE.exec(line))) {
        if (!pendingHelp || pendingHelp.name !== m[1])
          throw new Error(`${where}: TYPE without HELP before it`);
        current = { name: m[1], help: pendingHelp.help, type: m[2] as Family['type'], samples: [] };
        families.set(m[1], current);
        pendingHelp = undefined;
        return;
      }
      if (line.startsWith('#')) throw new Error(`${where}: not a HELP or TYPE comment`);
      if (!(m = SAMPLE_LINE.exec(line))) throw new Error(`${where}: not a valid sample line`);
      if (!current) throw new Error(`${where}: sample before any TYPE`);
      const [, name, labelText, valueText] = m;
      if (!SUFFIXES[current.type].some((suffix) => name === `${current!.name}${suffix}`)) {
        throw new Error(`${where}: ${name} does not belong to the ${current.type} ${current.name}`);
      }
      const labels: Record<string, string> = {};
      for (const [, key, quoted] of (labelText ?? '').matchAll(LABEL)) {
        if (key in labels) throw new Error(`${where}: label ${key} repeated`);
        labels[key] = unescape(quoted);
      }
      current.samples.push({ name, labels, value: number(valueText) });
    });
  for (const family of families.values()) if (family.type === 'histogram') checkHistogram(family);
  return families;
}

/** Each label set's buckets are cumulative, end at le="+Inf", and that bucket equals _count. */
function checkHistogram(family: Family): void {
  const series = new Map<string, { buckets: [number, number][]; count?: number }>();
  for (const sample of family.samples) {
    const { le, ...rest } = sample.labels;
    const key = JSON.stringify(rest);
    const entry = series.get(key) ?? { buckets: [] };
    series.set(key, entry);
    if (sample.name.endsWith('_bucket')) {
      if (le === undefined) throw new Error(`${family.name}: a bucket without le`);
      entry.buckets.push([number(le), sample.value]);
    } else if (sample.name.endsWith('_count')) {
      entry.count = sample.value;
    }
  }
  for (const [key, { buckets, count }] of series) {
    for (let i = 1; i < buckets.length; i++) {
      if (buckets[i][0] <= buckets[i - 1][0] || buckets[i][1] < buckets[i - 1][1]) {
        throw new Error(`${family.name}${key}: buckets not cumulative in increasing le`);
      }
    }
    const last = buckets[buckets.length - 1];
    if (!last || last[0] !== Infinity) throw new Error(`${family.name}${key}: no le="+Inf" bucket`);
    if (last[1] !== count) throw new Error(`${family.name}${key}: +Inf bucket ${last[1]} ≠ _count ${count}`);
  }
}

/** The value of the family's sample with exactly these labels (besides `le`), or undefined. */
export function sampleValue(
  families: Map<string, Family>,
  name: string,
  labels: Record<string, string> = {},
  sampleName = name,
): number | undefined {
  const family = families.get(name);
  const want = JSON.stringify(Object.entries(labels).sort());
  return family?.samples.find(
    (s) => s.name === sampleName && JSON.stringify(Object.entries(s.labels).sort()) === want,
  )?.value;
}

/** Every value the label takes across all families. */
export function labelValues(families: Map<string, Family>, label: string): Set<string> {
  const values = new Set<string>();
  for (const family of families.values()) {
    for (const sample of family.samples) if (label in sample.labels) values.add(sample.labels[label]);
  }
  return values;
}
