import { useEffect, useRef, useState } from 'preact/hooks';
import { MONITOR_LIMITS, PRICE_FIELDS } from '../../../libs/contracts/src/monitor-config';
import { ApiError, call } from './api';
import { errorText } from './format';
import {
  backtestRules,
  changeKind,
  type DraftField,
  duration,
  emptyDraft,
  KIND_DIRECTIONS,
  KIND_FIELDS,
  KINDS,
  type RuleDraft,
  type RuleErrors,
  type RuleKind,
  SHARED_FIELDS,
  shownChoice,
} from './rules-model';
import type { BacktestResult } from './types';

const MAX_RULES = 10;
/** The backtest waits for this much quiet after the last keystroke. */
const BACKTEST_DEBOUNCE_MS = 600;
const BACKTEST_SPAN_MS = 3600_000;
const PAIR = /^[A-Za-z0-9]{2,12}-[A-Za-z0-9]{2,12}$/;

/** "would have fired N times in the last hour" per rule, while the rules are edited. */
export type Backtest =
  | { state: 'idle' }
  | { state: 'running' }
  | { state: 'done'; fired: number[]; ticks: number }
  | { state: 'note'; text: string };

/** Set once an API answers that it has no backtest: the editor stops asking (no errors shown for it). */
let backtestMissing = false;

/** Backtests the rules as they are edited (debounced; the last edit wins); nothing on an API without it. */
export function useBacktest(pair: string, intervalMs: string, drafts: RuleDraft[]): Backtest {
  const [result, setResult] = useState<Backtest>({ state: 'idle' });
  const body = backtestBody(pair, intervalMs, drafts);
  const key = body ? JSON.stringify(body.request) : '';
  const latest = useRef(0);
  useEffect(() => {
    if (!body || backtestMissing) {
      setResult({ state: 'idle' });
      return;
    }
    const run = ++latest.current;
    const controller = new AbortController();
    const timer = setTimeout(() => {
      setResult({ state: 'running' });
      call<BacktestResult>('POST', '/monitors/backtest', body.request, controller.signal).then(
        (answer) => {
          if (run !== latest.current) return;
          const fired = body.ids.map((id) => answer.firedByRule?.[id] ?? 0);
          setResult({ state: 'done', fired, ticks: answer.ticks });
        },
        (error: unknown) => {
          if (run !== latest.current || controller.signal.aborted) return;
          if (error instanceof ApiError && (error.status === 404 || error.status === 405)) {
            backtestMissing = true;
            setResult({ state: 'idle' });
          } else if (error instanceof ApiError && error.status === 422) {
            setResult({
              state: 'note',
              text: `no stored prices for ${body.request.pair} in the last hour to backtest`,
            });
          } else if (error instanceof ApiError && error.status === 400) {
            setResult({ state: 'note', text: 'backtest once the fields are valid' });
          } else {
            setResult({ state: 'note', text: `no backtest: ${errorText(error)}` });
          }
        },
      );
    }, BACKTEST_DEBOUNCE_MS);
    return () => {
      clearTimeout(timer);
      controller.abort();
    };
  }, [key]);
  return body ? result : { state: 'idle' };
}

/** The backtest's request, or undefined while the pair or a rule's main field is still empty. */
function backtestBody(pair: string, intervalMs: string, drafts: RuleDraft[]) {
  if (!PAIR.test(pair.trim()) || drafts.length === 0) return undefined;
  const ready = drafts.every((d) =>
    d.kind === 'cross' ? d.values.level.trim() : d.values.thresholdPercent.trim(),
  );
  if (!ready) return undefined;
  const { rules, ids } = backtestRules(drafts);
  const interval = /^\d+$/.test(intervalMs.trim()) ? Number(intervalMs.trim()) : undefined;
  const since = new Date(Math.floor(Date.now() / 60_000) * 60_000 - BACKTEST_SPAN_MS).toISOString();
  return {
    request: { pair: pair.trim().toUpperCase(), ...(interval ? { intervalMs: interval } : {}), rules, since },
    ids,
  };
}

const LABELS: Record<DraftField, string> = {
  thresholdPercent: 'Threshold %',
  level: 'Level',
  direction: 'Direction',
  rearmPercent: 'Re-arm %',
  windowMs: 'Window (ms)',
  priceField: 'Price',
  cooldownMs: 'Cooldown (ms)',
  maxFires: 'Max alerts',
  expiresAt: 'Expires',
  label: 'Label',
};

const KIND_HINTS: Record<RuleKind, string> = {
  move: 'a move of the threshold from the last alert’s price',
  cross: 'the price reaches the level from the other side',
  window: 'a move of the threshold within the window',
  trailing: 'a fall from the peak (or rise from the trough)',
  spread: '(ask − bid) / mid at or past the threshold',
};

function hint(field: DraftField, draft: RuleDraft): string {
  const { thresholdPercent, cooldownMs } = MONITOR_LIMITS;
  switch (field) {
    case 'thresholdPercent':
      return `> 0, ≤ ${thresholdPercent.max}`;
    case 'level':
      return 'a price, e.g. 100000';
    case 'rearmPercent':
      return '≥ 0, default 0';
    case 'windowMs':
      return duration(draft.values.windowMs) || 'interval–86400000';
    case 'cooldownMs':
      return `${cooldownMs.min}–${cooldownMs.max}`;
    case 'maxFires':
      return '≥ 1; empty: no limit';
    case 'expiresAt':
      return 'your local time';
    default:
      return '';
  }
}

/** The rules of a monitor being created or edited: one fieldset per rule, its kind's fields, the API's errors. */
export function RuleEditor(props: {
  drafts: RuleDraft[];
  onChange: (drafts: RuleDraft[]) => void;
  errors: RuleErrors;
  backtest: Backtest;
}) {
  const { drafts, errors, backtest } = props;
  const update = (index: number, next: RuleDraft) =>
    props.onChange(drafts.map((d, i) => (i === index ? next : d)));
  const total = backtest.state === 'done' ? backtest.fired.reduce((a, b) => a + b, 0) : undefined;
  return (
    <div class="rules-editor">
      {errors.whole.length > 0 && (
        <p class="field-error" role="alert" data-field-error="rules">
          {errors.whole.join('; ')}
        </p>
      )}
      {drafts.map((draft, index) => (
        <RuleFields
          key={draft.key}
          index={index}
          draft={draft}
          errors={errors.perRule[index] ?? {}}
          fired={backtest.state === 'done' ? backtest.fired[index] : undefined}
          onChange={(next) => update(index, next)}
          onRemove={
            drafts.length > 1 ? () => props.onChange(drafts.filter((_, i) => i !== index)) : undefined
          }
        />
      ))}
      <div class="rules-foot">
        {drafts.length < MAX_RULES && (
          <button type="button" onClick={() => props.onChange([...drafts, emptyDraft('cross')])}>
            Add a rule
          </button>
        )}
        <span class="muted small" data-testid="backtest" data-state={backtest.state} aria-live="polite">
          {backtest.state === 'running' && 'backtesting the last hour…'}
          {backtest.state === 'note' && backtest.text}
          {total !== undefined &&
            `${drafts.length > 1 ? 'together: ' : ''}would have fired ${times(total)} in the last hour (${backtest.state === 'done' ? backtest.ticks : 0} ticks)`}
        </span>
      </div>
    </div>
  );
}

const times = (n: number) => `${n} time${n === 1 ? '' : 's'}`;

function RuleFields(props: {
  index: number;
  draft: RuleDraft;
  errors: Partial<Record<DraftField | '', string[]>>;
  fired: number | undefined;
  onChange: (draft: RuleDraft) => void;
  onRemove?: () => void;
}) {
  const { index, draft, errors } = props;
  const name = (field: string) => `rules[${index}].${field}`;
  const set = (field: DraftField) => (event: { currentTarget: { value: string } }) =>
    props.onChange({ ...draft, values: { ...draft.values, [field]: event.currentTarget.value } });
  const sharedFilled = SHARED_FIELDS.some((f) => draft.values[f].trim() || errors[f]);
  const control = (field: DraftField) => {
    if (field === 'direction' || field === 'priceField') {
      const options = field === 'direction' ? (KIND_DIRECTIONS[draft.kind] ?? []) : PRICE_FIELDS;
      return (
        <select name={name(field)} value={shownChoice(draft.values[field], options)} onChange={set(field)}>
          <option value="">{options[0]} (default)</option>
          {options.slice(1).map((o) => (
            <option key={o} value={o}>
              {o}
            </option>
          ))}
        </select>
      );
    }
    return (
      <input
        name={name(field)}
        type={field === 'expiresAt' ? 'datetime-local' : 'text'}
        step={field === 'expiresAt' ? 1 : undefined}
        value={draft.values[field]}
        onInput={set(field)}
        inputMode={field === 'label' || field === 'expiresAt' ? 'text' : 'decimal'}
        aria-invalid={errors[field] ? 'true' : undefined}
        autocomplete="off"
      />
    );
  };
  const field = (f: DraftField) => (
    <label class="field" key={f}>
      <span>{LABELS[f]}</span>
      {control(f)}
      {hint(f, draft) && <small class="muted">{hint(f, draft)}</small>}
      {errors[f] && (
        <span class="field-error" role="alert" data-field-error={name(f)}>
          {errors[f]?.join('; ')}
        </span>
      )}
    </label>
  );
  return (
    <fieldset class="rule" data-testid="rule-editor" data-index={index} data-rule-id={draft.id ?? ''}>
      <legend>
        Rule {index + 1}
        {draft.id ? <span class="muted"> ({draft.id})</span> : null}
      </legend>
      <div class="rule-head">
        <label class="field">
          <span>Kind</span>
          <select
            name={name('kind')}
            value={draft.kind}
            onChange={(event) => props.onChange(changeKind(draft, event.currentTarget.value as RuleKind))}
          >
            {KINDS.map((kind) => (
              <option key={kind} value={kind}>
                {kind}
              </option>
            ))}
          </select>
        </label>
        <small class="muted kind-hint">{KIND_HINTS[draft.kind]}</small>
        {props.onRemove && (
          <button
            type="button"
            class="danger"
            onClick={props.onRemove}
            aria-label={`Remove rule ${index + 1}`}
          >
            Remove
          </button>
        )}
      </div>
      {errors[''] && (
        <span class="field-error" role="alert" data-field-error={`rules[${index}]`}>
          {errors['']?.join('; ')}
        </span>
      )}
      <div class="fields">{KIND_FIELDS[draft.kind].map(field)}</div>
      <details open={sharedFilled}>
        <summary class="small">Options: price, cooldown, max alerts, expiry, label</summary>
        <div class="fields">{SHARED_FIELDS.map(field)}</div>
      </details>
      {props.fired !== undefined && (
        <p class="small backtest-rule" data-testid="rule-backtest">
          would have fired <strong>{times(props.fired)}</strong> in the last hour
        </p>
      )}
    </fieldset>
  );
}
