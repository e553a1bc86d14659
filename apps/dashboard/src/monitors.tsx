import { useState } from 'preact/hooks';
import { MONITOR_LIMITS } from '../../../libs/contracts/src/monitor-config';
import { ApiError, call, type FieldErrors } from './api';
import { ago, errorText, shortId } from './format';
import { RuleEditor, useBacktest } from './rule-editor';
import {
  createBody,
  draftFromRule,
  editBody,
  emptyDraft,
  type RuleDraft,
  ruleErrorTarget,
  ruleSummary,
  splitRuleErrors,
} from './rules-model';
import type { Monitor } from './types';

export function MonitorList(props: {
  monitors: Monitor[] | undefined;
  selectedId: string | undefined;
  onSelect: (id: string) => void;
  onChanged: () => void;
}) {
  if (!props.monitors) return <p class="muted">Loading monitors…</p>;
  if (props.monitors.length === 0) return <p class="muted">No monitors yet: start one below.</p>;
  return (
    <ul class="monitor-list">
      {props.monitors.map((monitor) => (
        <MonitorRow
          key={monitor.id}
          monitor={monitor}
          selected={monitor.id === props.selectedId}
          onSelect={() => props.onSelect(monitor.id)}
          onChanged={props.onChanged}
        />
      ))}
    </ul>
  );
}

function MonitorRow(props: {
  monitor: Monitor;
  selected: boolean;
  onSelect: () => void;
  onChanged: () => void;
}) {
  const { monitor } = props;
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const [editing, setEditing] = useState(false);
  const act = async (method: string, path: string) => {
    setBusy(true);
    setError(undefined);
    try {
      await call(method, path);
      props.onChanged();
    } catch (caught) {
      setError(errorText(caught));
    } finally {
      setBusy(false);
    }
  };
  const worker = monitor.worker;
  const active = monitor.status === 'running' || monitor.status === 'starting';
  return (
    <li
      class={`monitor${props.selected ? ' selected' : ''}`}
      data-testid="monitor"
      data-monitor-id={monitor.id}
      data-status={monitor.status}
    >
      <div class="monitor-head">
        <button class="link pair" onClick={props.onSelect} title="Show its prices">
          {monitor.pair}
        </button>
        <span class={`status status-${monitor.status}`} data-testid="monitor-status">
          {monitor.status}
        </span>
        {worker?.stale && active && (
          <span class="status status-stale" title="The worker's report has expired">
            stale
          </span>
        )}
        <span class="muted small">{shortId(monitor.id)}</span>
        <span class="actions">
          {monitor.rules && (
            <button disabled={busy || editing} onClick={() => setEditing(true)}>
              Edit
            </button>
          )}
          {active ? (
            <button disabled={busy} onClick={() => void act('DELETE', `/monitors/${monitor.id}`)}>
              Stop
            </button>
          ) : (
            <button disabled={busy} onClick={() => void act('POST', `/monitors/${monitor.id}/restart`)}>
              Restart
            </button>
          )}
        </span>
      </div>
      {monitor.rules?.length ? (
        <>
          <div class="monitor-config small">every {monitor.intervalMs / 1000} s</div>
          <ul class="rule-list small" aria-label={`Rules of ${monitor.pair}`}>
            {monitor.rules.map((rule) => (
              <li
                key={rule.id}
                data-testid="monitor-rule"
                data-rule-id={rule.id}
                data-kind={rule.kind}
                class={rule.done ? 'done' : undefined}
              >
                <span class={`kind kind-${rule.kind}`}>{rule.id}</span>{' '}
                {rule.label ? <strong>{rule.label}: </strong> : null}
                <span data-testid="rule-summary">{ruleSummary(rule)}</span>
                {rule.fires !== undefined && (
                  <span class="muted" data-testid="rule-fires">
                    {' '}
                    · fired {rule.fires}
                  </span>
                )}
                {rule.done && <span class="status status-stopped">done</span>}
              </li>
            ))}
          </ul>
        </>
      ) : (
        <div class="monitor-config small">
          ±{monitor.thresholdPercent} % · {monitor.direction} · {monitor.priceField} · every{' '}
          {monitor.intervalMs / 1000} s
          {monitor.cooldownMs ? ` · cooldown ${monitor.cooldownMs / 1000} s` : ''}
        </div>
      )}
      {monitor.stopReason && <p class="muted small">stopped: {monitor.stopReason}</p>}
      {worker && (
        <dl class="worker small">
          <div>
            <dt>worker</dt>
            <dd data-testid="worker-state">{worker.state}</dd>
          </div>
          <div>
            <dt>last tick</dt>
            <dd title={worker.lastTickAt ?? ''}>{ago(worker.lastTickAt)}</dd>
          </div>
          <div>
            <dt>last price</dt>
            <dd data-testid="last-price">{worker.lastPrice ?? '—'}</dd>
          </div>
          <div>
            <dt>errors</dt>
            <dd>{worker.consecutiveErrors}</dd>
          </div>
          {worker.restarts > 0 && (
            <div>
              <dt>restarts</dt>
              <dd>{worker.restarts}</dd>
            </div>
          )}
        </dl>
      )}
      {worker?.lastError && <p class="error small">last error: {worker.lastError}</p>}
      {monitor.reason && <p class="error small">{monitor.reason}</p>}
      {error && (
        <p class="error small" role="alert">
          {error}
        </p>
      )}
      {editing && (
        <MonitorForm
          monitor={monitor}
          onSaved={() => {
            setEditing(false);
            props.onChanged();
          }}
          onCancel={() => setEditing(false)}
        />
      )}
    </li>
  );
}

/**
 * Start a monitor (POST /monitors), or edit one (PATCH /monitors/:id, `monitor` given): the pair, the interval
 * and its rules. The API's message for a refused field shows beside that field, `rules[1].level` beside rule
 * 2's level; while the rules are edited, a backtest says how often they would have fired in the last hour.
 */
export function MonitorForm(props: {
  monitor?: Monitor;
  onCreated?: (monitor: Monitor) => void;
  onSaved?: (monitor: Monitor) => void;
  onCancel?: () => void;
}) {
  const editing = props.monitor;
  const [pair, setPair] = useState(editing?.pair ?? '');
  const [intervalMs, setIntervalMs] = useState(editing ? String(editing.intervalMs) : '');
  const [drafts, setDrafts] = useState<RuleDraft[]>(() =>
    editing?.rules?.length ? editing.rules.map(draftFromRule) : [emptyDraft('move')],
  );
  const [fields, setFields] = useState<FieldErrors>({});
  const [message, setMessage] = useState<string>();
  const [busy, setBusy] = useState(false);
  const backtest = useBacktest(pair, intervalMs || String(MONITOR_LIMITS.intervalMs.default), drafts);
  const { rules: ruleErrors, rest } = splitRuleErrors(fields);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setFields({});
    setMessage(undefined);
    try {
      if (editing) {
        const saved = await call<Monitor>('PATCH', `/monitors/${editing.id}`, editBody(intervalMs, drafts));
        props.onSaved?.(saved);
      } else {
        const monitor = await call<Monitor>('POST', '/monitors', createBody(pair, intervalMs, drafts));
        setPair('');
        setIntervalMs('');
        setDrafts([emptyDraft('move')]);
        props.onCreated?.(monitor);
      }
    } catch (error) {
      if (error instanceof ApiError) {
        setFields(error.fields);
        // Field messages sit beside their fields; what is left (409, 422 without a field, 503) goes above the button.
        const placed = Object.keys(error.fields).every(
          (f) => f === 'pair' || f === 'intervalMs' || ruleErrorTarget(f),
        );
        if (!Object.keys(error.fields).length || !placed)
          setMessage(`${error.status || 'error'}: ${error.message}`);
      } else {
        setMessage(errorText(error));
      }
    } finally {
      setBusy(false);
    }
  };

  const { intervalMs: interval } = MONITOR_LIMITS;
  const label = editing ? `Edit monitor ${editing.pair}` : 'Start a monitor';
  return (
    <form class="monitor-form" aria-label={label} onSubmit={(e) => void submit(e)} noValidate>
      <h3>{editing ? `Edit ${editing.pair}` : 'Start a monitor'}</h3>
      <div class="fields">
        <label class="field">
          <span>Pair</span>
          <input
            name="pair"
            value={pair}
            onInput={(e) => setPair(e.currentTarget.value)}
            placeholder="BTC-USD"
            disabled={Boolean(editing)}
            aria-invalid={rest.pair ? 'true' : undefined}
            autocomplete="off"
          />
          <small class="muted">{editing ? 'a monitor keeps its pair' : 'two codes and a dash'}</small>
          <FieldError field="pair" fields={rest} />
        </label>
        <label class="field">
          <span>Interval (ms)</span>
          <input
            name="intervalMs"
            value={intervalMs}
            onInput={(e) => setIntervalMs(e.currentTarget.value)}
            placeholder={String(interval.default)}
            inputMode="numeric"
            aria-invalid={rest.intervalMs ? 'true' : undefined}
            autocomplete="off"
          />
          <small class="muted">
            {interval.min}–{interval.max}
          </small>
          <FieldError field="intervalMs" fields={rest} />
        </label>
      </div>
      <RuleEditor drafts={drafts} onChange={setDrafts} errors={ruleErrors} backtest={backtest} />
      {message && (
        <p class="error" role="alert" data-testid="form-error">
          {message}
        </p>
      )}
      <div class="form-actions">
        <button type="submit" disabled={busy}>
          {editing ? (busy ? 'Saving…' : 'Save changes') : busy ? 'Starting…' : 'Start monitoring'}
        </button>
        {props.onCancel && (
          <button type="button" onClick={props.onCancel}>
            Cancel
          </button>
        )}
      </div>
    </form>
  );
}

function FieldError({ field, fields }: { field: string; fields: FieldErrors }) {
  const messages = fields[field];
  if (!messages?.length) return null;
  return (
    <span class="field-error" role="alert" data-field-error={field}>
      {messages.join('; ')}
    </span>
  );
}
