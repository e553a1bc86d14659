import { useState } from 'preact/hooks';
import { DIRECTIONS, MONITOR_LIMITS, PRICE_FIELDS } from '../../../libs/contracts/src/monitor-config';
import { ApiError, call, type FieldErrors } from './api';
import { ago, errorText, shortId } from './format';
import { EMPTY_MONITOR_FORM as EMPTY, type FormField, monitorBody } from './monitor-form';
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
      <div class="monitor-config small">
        ±{monitor.thresholdPercent} % · {monitor.direction} · {monitor.priceField} · every{' '}
        {monitor.intervalMs / 1000} s{monitor.cooldownMs ? ` · cooldown ${monitor.cooldownMs / 1000} s` : ''}
      </div>
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
    </li>
  );
}

export function MonitorForm(props: { onCreated: (monitor: Monitor) => void }) {
  const [values, setValues] = useState(EMPTY);
  const [fields, setFields] = useState<FieldErrors>({});
  const [message, setMessage] = useState<string>();
  const [busy, setBusy] = useState(false);
  const set = (field: FormField) => (event: { currentTarget: { value: string } }) =>
    setValues((v) => ({ ...v, [field]: event.currentTarget.value }));

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setFields({});
    setMessage(undefined);
    try {
      const monitor = await call<Monitor>('POST', '/monitors', monitorBody(values));
      setValues(EMPTY);
      props.onCreated(monitor);
    } catch (error) {
      if (error instanceof ApiError) {
        setFields(error.fields);
        // Field messages sit beside their fields; what is left (409, 422 without a field, 503) goes above the button.
        const known = Object.keys(error.fields).every((f) => f in EMPTY);
        if (!Object.keys(error.fields).length || !known)
          setMessage(`${error.status || 'error'}: ${error.message}`);
      } else {
        setMessage(errorText(error));
      }
    } finally {
      setBusy(false);
    }
  };

  const { intervalMs, thresholdPercent, cooldownMs } = MONITOR_LIMITS;
  const input = (
    field: FormField,
    label: string,
    hint: string,
    placeholder: string,
    mode: 'numeric' | 'decimal' | 'text' = 'numeric',
  ) => (
    <label class="field">
      <span>{label}</span>
      <input
        name={field}
        value={values[field]}
        onInput={set(field)}
        placeholder={placeholder}
        inputMode={mode}
        aria-invalid={fields[field] ? 'true' : undefined}
        autocomplete="off"
      />
      <small class="muted">{hint}</small>
      <FieldError field={field} fields={fields} />
    </label>
  );
  const select = (field: FormField, label: string, options: readonly string[], fallback: string) => (
    <label class="field">
      <span>{label}</span>
      <select name={field} value={values[field]} onChange={set(field)}>
        <option value="">{fallback} (default)</option>
        {options
          .filter((o) => o !== fallback)
          .map((o) => (
            <option key={o} value={o}>
              {o}
            </option>
          ))}
      </select>
      <FieldError field={field} fields={fields} />
    </label>
  );

  return (
    <form class="monitor-form" aria-label="Start a monitor" onSubmit={(e) => void submit(e)} noValidate>
      <h3>Start a monitor</h3>
      <div class="fields">
        {input('pair', 'Pair', 'two codes and a dash', 'BTC-USD', 'text')}
        {input(
          'thresholdPercent',
          'Threshold %',
          `> 0, ≤ ${thresholdPercent.max}`,
          thresholdPercent.default,
          'decimal',
        )}
        {input(
          'intervalMs',
          'Interval (ms)',
          `${intervalMs.min}–${intervalMs.max}`,
          String(intervalMs.default),
        )}
        {input(
          'cooldownMs',
          'Cooldown (ms)',
          `${cooldownMs.min}–${cooldownMs.max}`,
          String(cooldownMs.default),
        )}
        {select('priceField', 'Price', PRICE_FIELDS, 'ask')}
        {select('direction', 'Direction', DIRECTIONS, 'both')}
      </div>
      {message && (
        <p class="error" role="alert" data-testid="form-error">
          {message}
        </p>
      )}
      <button type="submit" disabled={busy}>
        {busy ? 'Starting…' : 'Start monitoring'}
      </button>
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
