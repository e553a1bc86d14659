import { useEffect, useState } from 'preact/hooks';
import { WEBHOOK_EVENTS, WEBHOOK_FORMATS } from '../../api/src/notify/webhook-events';
import { ApiError, call, type FieldErrors } from './api';
import { DeliveryLog } from './delivery-log';
import { errorText } from './format';
import type { Webhook } from './types';

/** Webhooks: the list, a form to add one (its secret shown once), a test event, and each one's delivery log. */
export function WebhookPanel() {
  const [hooks, setHooks] = useState<Webhook[]>();
  const [error, setError] = useState<string>();
  const [secret, setSecret] = useState<{ url: string; secret: string }>();
  const refresh = async () => {
    try {
      setHooks(await call<Webhook[]>('GET', '/webhooks'));
      setError(undefined);
    } catch (caught) {
      setError(errorText(caught));
    }
  };
  useEffect(() => void refresh(), []);
  return (
    <div class="webhooks">
      {error && <p class="error">{error}</p>}
      {secret && (
        <p class="notice" role="status">
          Secret of {secret.url} (shown only now; verify deliveries with it): <code>{secret.secret}</code>
        </p>
      )}
      {hooks && hooks.length === 0 && <p class="muted">No webhooks yet.</p>}
      <ul class="hook-list">
        {hooks?.map((hook) => (
          <WebhookRow key={hook.id} hook={hook} onChanged={() => void refresh()} />
        ))}
      </ul>
      <WebhookForm
        onCreated={(hook) => {
          if (hook.secret) setSecret({ url: hook.url, secret: hook.secret });
          void refresh();
        }}
      />
    </div>
  );
}

function WebhookRow({ hook, onChanged }: { hook: Webhook; onChanged: () => void }) {
  const [open, setOpen] = useState(false);
  const [message, setMessage] = useState<string>();
  const [reload, setReload] = useState(0);
  const act = async (method: string, path: string, body?: unknown, done?: string) => {
    try {
      await call(method, path, body);
      setMessage(done);
      setReload((n) => n + 1);
      onChanged();
    } catch (caught) {
      setMessage(errorText(caught));
    }
  };
  return (
    <li class="hook" data-testid="webhook">
      <div class="monitor-head">
        <code class="url">{hook.url}</code>
        <span class={`status ${hook.enabled ? 'status-running' : 'status-stopped'}`}>
          {hook.enabled ? 'enabled' : 'disabled'}
        </span>
        <span class="actions">
          <button
            onClick={() => void act('POST', `/webhooks/${hook.id}/test`, undefined, 'test event queued')}
          >
            Test
          </button>
          <button onClick={() => setOpen(!open)}>{open ? 'Hide log' : 'Deliveries'}</button>
          <button onClick={() => void act('PATCH', `/webhooks/${hook.id}`, { enabled: !hook.enabled })}>
            {hook.enabled ? 'Disable' : 'Enable'}
          </button>
          <button
            class="danger"
            onClick={() => confirm(`Delete ${hook.url}?`) && void act('DELETE', `/webhooks/${hook.id}`)}
          >
            Delete
          </button>
        </span>
      </div>
      <div class="small muted">
        {hook.events.join(', ')} · {hook.pairs.length ? hook.pairs.join(', ') : 'every pair'} · {hook.format}
        {hook.description ? ` · ${hook.description}` : ''}
      </div>
      {hook.disabledReason && <p class="error small">{hook.disabledReason}</p>}
      {message && (
        <p class="small" role="status">
          {message}
        </p>
      )}
      {open && <DeliveryLog base={`/webhooks/${hook.id}`} reload={reload} />}
    </li>
  );
}

function WebhookForm({ onCreated }: { onCreated: (hook: Webhook) => void }) {
  const [url, setUrl] = useState('');
  const [events, setEvents] = useState<string[]>(['alert.created']);
  const [pairs, setPairs] = useState('');
  const [format, setFormat] = useState('standard');
  const [description, setDescription] = useState('');
  const [fields, setFields] = useState<FieldErrors>({});
  const [message, setMessage] = useState<string>();
  const submit = async (event: Event) => {
    event.preventDefault();
    setFields({});
    setMessage(undefined);
    const body = {
      url: url.trim(),
      events,
      pairs: pairs
        .split(/[\s,]+/)
        .map((p) => p.trim())
        .filter(Boolean),
      format,
      ...(description.trim() ? { description: description.trim() } : {}),
    };
    try {
      const hook = await call<Webhook>('POST', '/webhooks', body);
      setUrl('');
      setPairs('');
      setDescription('');
      onCreated(hook);
    } catch (caught) {
      if (caught instanceof ApiError) setFields(caught.fields);
      setMessage(errorText(caught));
    }
  };
  const err = (field: string) =>
    fields[field] && (
      <span class="field-error" data-field-error={field}>
        {fields[field].join('; ')}
      </span>
    );
  return (
    <form class="webhook-form" aria-label="Add a webhook" onSubmit={(e) => void submit(e)} noValidate>
      <h3>Add a webhook</h3>
      <div class="fields">
        <label class="field wide">
          <span>URL</span>
          <input
            name="url"
            value={url}
            onInput={(e) => setUrl(e.currentTarget.value)}
            placeholder="https://example.com/hook"
          />
          {err('url')}
        </label>
        <label class="field">
          <span>Pairs</span>
          <input
            name="pairs"
            value={pairs}
            onInput={(e) => setPairs(e.currentTarget.value)}
            placeholder="all (or BTC-USD, ETH-USD)"
          />
          {err('pairs')}
        </label>
        <label class="field">
          <span>Format</span>
          <select name="format" value={format} onChange={(e) => setFormat(e.currentTarget.value)}>
            {WEBHOOK_FORMATS.map((f) => (
              <option key={f} value={f}>
                {f}
              </option>
            ))}
          </select>
        </label>
        <label class="field">
          <span>Description</span>
          <input
            name="description"
            value={description}
            onInput={(e) => setDescription(e.currentTarget.value)}
          />
          {err('description')}
        </label>
      </div>
      <fieldset class="events">
        <legend>Events</legend>
        {WEBHOOK_EVENTS.map((name) => (
          <label key={name} class="check">
            <input
              type="checkbox"
              checked={events.includes(name)}
              onChange={(e) =>
                setEvents((list) =>
                  e.currentTarget.checked ? [...list, name] : list.filter((x) => x !== name),
                )
              }
            />
            {name}
          </label>
        ))}
        {err('events')}
      </fieldset>
      {message && (
        <p class="error" role="alert">
          {message}
        </p>
      )}
      <button type="submit">Add webhook</button>
    </form>
  );
}
