import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, call, type FieldErrors, onReconnect } from './api';
import {
  type Channel,
  CHANNEL_EVENTS,
  CHANNEL_TYPES,
  channelBody,
  type ChannelDraft,
  type ChannelType,
  channelTarget,
  CONFIG_FIELDS,
  DAYS,
  emptyChannel,
  emptyWindow,
  errorsAt,
  errorsOutside,
  noiseSummary,
  placedError,
} from './channels-model';
import { DeliveryLog } from './delivery-log';
import { errorText, localInputToIso, utc } from './format';
import { KINDS } from './rules-model';
import { WebhookPanel } from './webhooks';

const SNOOZES: [string, number][] = [
  ['1 h', 3600_000],
  ['8 h', 8 * 3600_000],
  ['24 h', 24 * 3600_000],
];

/**
 * Channels (`/channels`): the list with Test, Snooze, Enable/Disable, Delete and each one's delivery log, and
 * a form per type. An API without channels (404) gets the webhooks panel it has.
 */
export function ChannelsSection() {
  const [channels, setChannels] = useState<Channel[]>();
  const [missing, setMissing] = useState(false);
  const [error, setError] = useState<string>();
  const [secret, setSecret] = useState<{ name: string; secret: string }>();
  const failed = useRef(false);
  const refresh = async () => {
    try {
      setChannels(await call<Channel[]>('GET', '/channels'));
      setError(undefined);
      failed.current = false;
    } catch (caught) {
      if (caught instanceof ApiError && caught.status === 404) setMissing(true);
      else setError(errorText(caught));
      failed.current = true;
    }
  };
  useEffect(() => {
    void refresh();
    // A list that could not be read (the API down as the page opened) is read again once the API answers.
    return onReconnect(() => failed.current && void refresh());
  }, []);
  if (missing) {
    return (
      <>
        <h2 id="channels-title">Webhooks</h2>
        <WebhookPanel />
      </>
    );
  }
  return (
    <>
      <h2 id="channels-title">Channels</h2>
      <div class="channels" data-testid="channels">
        {error && <p class="error">{error}</p>}
        {secret && (
          <p class="notice" role="status" data-testid="channel-secret">
            Secret of {secret.name} (shown only now): <code>{secret.secret}</code>
          </p>
        )}
        {channels && channels.length === 0 && <p class="muted">No channels yet.</p>}
        <ul class="hook-list">
          {channels?.map((channel) => (
            <ChannelRow key={channel.id} channel={channel} onChanged={() => void refresh()} />
          ))}
        </ul>
        {channels && (
          <ChannelForm
            onCreated={(channel) => {
              if (channel.secret)
                setSecret({ name: channel.name || channelTarget(channel), secret: channel.secret });
              void refresh();
            }}
          />
        )}
      </div>
    </>
  );
}

function ChannelRow({ channel, onChanged }: { channel: Channel; onChanged: () => void }) {
  const [open, setOpen] = useState(false);
  const [message, setMessage] = useState<string>();
  const [reload, setReload] = useState(0);
  const [until, setUntil] = useState('');
  const base = `/channels/${channel.id}`;
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
  const snoozed = channel.snoozedUntil && Date.parse(channel.snoozedUntil) > Date.now();
  const noise = noiseSummary(channel);
  return (
    <li class="hook" data-testid="channel" data-channel-id={channel.id} data-type={channel.type}>
      <div class="monitor-head">
        <span class="kind">{channel.type}</span>
        <strong>{channel.name || channelTarget(channel)}</strong>
        <span
          class={`status ${channel.enabled ? 'status-running' : 'status-stopped'}`}
          data-testid="channel-status"
        >
          {channel.enabled ? 'enabled' : 'disabled'}
        </span>
        {snoozed && (
          <span class="status status-starting" data-testid="channel-snoozed">
            snoozed until {utc(channel.snoozedUntil)}
          </span>
        )}
        <span class="actions">
          <button onClick={() => void act('POST', `${base}/test`, undefined, 'test message queued')}>
            Test
          </button>
          <button onClick={() => setOpen(!open)}>{open ? 'Hide log' : 'Deliveries'}</button>
          <button onClick={() => void act('PATCH', base, { enabled: !channel.enabled })}>
            {channel.enabled ? 'Disable' : 'Enable'}
          </button>
          <button
            class="danger"
            onClick={() =>
              confirm(`Delete channel ${channel.name || channel.id}?`) && void act('DELETE', base)
            }
          >
            Delete
          </button>
        </span>
      </div>
      <div class="small muted">
        {channel.name ? `${channelTarget(channel)} · ` : ''}
        {channel.events.join(', ')}
        {channel.filter?.pairs?.length ? ` · ${channel.filter.pairs.join(', ')}` : ' · every pair'}
        {channel.filter?.kinds?.length ? ` · ${channel.filter.kinds.join(', ')}` : ''}
        {noise.length ? ` · ${noise.join(' · ')}` : ''}
      </div>
      <div class="snooze small">
        {snoozed ? (
          <button onClick={() => void act('DELETE', `${base}/snooze`, undefined, 'snooze lifted')}>
            Unsnooze
          </button>
        ) : (
          <>
            <span class="muted">Snooze:</span>
            {SNOOZES.map(([label, ms]) => (
              <button
                key={label}
                onClick={() =>
                  void act(
                    'POST',
                    `${base}/snooze`,
                    { until: new Date(Date.now() + ms).toISOString() },
                    `snoozed ${label}`,
                  )
                }
              >
                {label}
              </button>
            ))}
            <input
              type="datetime-local"
              aria-label="Snooze until"
              value={until}
              onInput={(e) => setUntil(e.currentTarget.value)}
            />
            <button
              disabled={!until}
              onClick={() => void act('POST', `${base}/snooze`, { until: localInputToIso(until) }, 'snoozed')}
            >
              Until then
            </button>
          </>
        )}
      </div>
      {channel.disabledReason && <p class="error small">{channel.disabledReason}</p>}
      {message && (
        <p class="small" role="status">
          {message}
        </p>
      )}
      {open && <DeliveryLog base={base} reload={reload} testId="channel-log" />}
    </li>
  );
}

const browserZone = (): string => {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
};

function ChannelForm({ onCreated }: { onCreated: (channel: Channel) => void }) {
  const [draft, setDraft] = useState<ChannelDraft>(() => emptyChannel('webhook', browserZone()));
  const [fields, setFields] = useState<FieldErrors>({});
  const [message, setMessage] = useState<string>();
  const [busy, setBusy] = useState(false);
  const set = (patch: Partial<ChannelDraft>) => setDraft((d) => ({ ...d, ...patch }));
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setFields({});
    setMessage(undefined);
    try {
      const channel = await call<Channel>('POST', '/channels', channelBody(draft));
      setDraft(emptyChannel(draft.type, draft.quietZone));
      onCreated(channel);
    } catch (caught) {
      if (caught instanceof ApiError) {
        setFields(caught.fields);
        const keys = Object.keys(caught.fields);
        if (!keys.length || !keys.every(placedError))
          setMessage(`${caught.status || 'error'}: ${caught.message}`);
      } else setMessage(errorText(caught));
    } finally {
      setBusy(false);
    }
  };
  const err = (path: string, messages = errorsAt(fields, path)) =>
    messages.length ? (
      <span class="field-error" role="alert" data-field-error={path}>
        {messages.join('; ')}
      </span>
    ) : null;
  const toggle = (list: string[], item: string, on: boolean) =>
    on ? [...list, item] : list.filter((x) => x !== item);
  return (
    <form class="channel-form" aria-label="Add a channel" onSubmit={(e) => void submit(e)} noValidate>
      <h3>Add a channel</h3>
      <div class="fields">
        <label class="field">
          <span>Type</span>
          <select
            name="type"
            value={draft.type}
            onChange={(e) => set({ type: e.currentTarget.value as ChannelType, config: {} })}
          >
            {CHANNEL_TYPES.map((type) => (
              <option key={type} value={type}>
                {type}
              </option>
            ))}
          </select>
          {err('type')}
        </label>
        <label class="field">
          <span>Name</span>
          <input name="name" value={draft.name} onInput={(e) => set({ name: e.currentTarget.value })} />
          {err('name')}
        </label>
        {CONFIG_FIELDS[draft.type].map((field) => (
          <label class="field wide" key={`${draft.type}.${field.name}`}>
            <span>{field.label}</span>
            <input
              name={`config.${field.name}`}
              type={field.secret ? 'password' : 'text'}
              autocomplete="off"
              value={draft.config[field.name] ?? ''}
              placeholder={field.placeholder}
              aria-invalid={errorsAt(fields, `config.${field.name}`).length ? 'true' : undefined}
              onInput={(e) => set({ config: { ...draft.config, [field.name]: e.currentTarget.value } })}
            />
            {err(`config.${field.name}`)}
          </label>
        ))}
        {err(
          'config',
          errorsOutside(
            fields,
            'config',
            CONFIG_FIELDS[draft.type].map((field) => `config.${field.name}`),
          ),
        )}
        <label class="field">
          <span>Pairs</span>
          <input
            name="filter.pairs"
            value={draft.pairs}
            placeholder="all (or BTC-USD, ETH-USD)"
            onInput={(e) => set({ pairs: e.currentTarget.value })}
          />
          {err('filter')}
        </label>
        <label class="field">
          <span>Digest (s)</span>
          <input
            name="digest.windowMs"
            inputMode="numeric"
            value={draft.digestSeconds}
            placeholder="off; 1–3600"
            onInput={(e) => set({ digestSeconds: e.currentTarget.value })}
          />
          {err('digest')}
        </label>
        <label class="field">
          <span>Max per hour</span>
          <input
            name="maxPerHour"
            inputMode="numeric"
            value={draft.maxPerHour}
            placeholder="no limit"
            onInput={(e) => set({ maxPerHour: e.currentTarget.value })}
          />
          {err('maxPerHour')}
        </label>
      </div>
      <fieldset class="events">
        <legend>Events</legend>
        {CHANNEL_EVENTS.map((name) => (
          <label key={name} class="check">
            <input
              type="checkbox"
              name="events"
              value={name}
              checked={draft.events.includes(name)}
              onChange={(e) => set({ events: toggle(draft.events, name, e.currentTarget.checked) })}
            />
            {name}
          </label>
        ))}
        {err('events')}
      </fieldset>
      <fieldset class="events">
        <legend>Rule kinds (none: all)</legend>
        {KINDS.map((kind) => (
          <label key={kind} class="check">
            <input
              type="checkbox"
              name="filter.kinds"
              value={kind}
              checked={draft.kinds.includes(kind)}
              onChange={(e) => set({ kinds: toggle(draft.kinds, kind, e.currentTarget.checked) })}
            />
            {kind}
          </label>
        ))}
      </fieldset>
      <fieldset class="quiet" data-testid="quiet-hours">
        <legend>Quiet hours (held, then sent as one digest)</legend>
        {draft.quiet.length > 0 && (
          <label class="field">
            <span>Time zone</span>
            <input
              name="quietHours.timeZone"
              list="pw-time-zones"
              value={draft.quietZone}
              onInput={(e) => set({ quietZone: e.currentTarget.value })}
            />
            <TimeZones />
            {err('quietHours.timeZone')}
          </label>
        )}
        {draft.quiet.map((window, index) => {
          const path = `quietHours.windows[${index}]`;
          const update = (patch: Partial<typeof window>) =>
            set({ quiet: draft.quiet.map((w, i) => (i === index ? { ...w, ...patch } : w)) });
          return (
            <div class="quiet-window" key={window.key} data-testid="quiet-window">
              <div class="days">
                {DAYS.map((day) => (
                  <label key={day} class="check">
                    <input
                      type="checkbox"
                      name={`${path}.days`}
                      value={day}
                      checked={window.days.includes(day)}
                      onChange={(e) =>
                        update({
                          days: DAYS.filter((d) =>
                            d === day ? e.currentTarget.checked : window.days.includes(d),
                          ),
                        })
                      }
                    />
                    {day}
                  </label>
                ))}
              </div>
              <label class="check">
                from
                <input
                  type="time"
                  name={`${path}.from`}
                  value={window.from}
                  onInput={(e) => update({ from: e.currentTarget.value })}
                />
              </label>
              <label class="check">
                to
                <input
                  type="time"
                  name={`${path}.to`}
                  value={window.to}
                  onInput={(e) => update({ to: e.currentTarget.value })}
                />
              </label>
              <button
                type="button"
                class="danger"
                onClick={() => set({ quiet: draft.quiet.filter((_, i) => i !== index) })}
              >
                Remove
              </button>
              {err(path)}
            </div>
          );
        })}
        {err(
          'quietHours.windows',
          errorsOutside(
            fields,
            'quietHours.windows',
            draft.quiet.map((_, index) => `quietHours.windows[${index}]`),
          ),
        )}
        <button type="button" onClick={() => set({ quiet: [...draft.quiet, emptyWindow()] })}>
          Add quiet hours
        </button>
      </fieldset>
      {message && (
        <p class="error" role="alert" data-testid="channel-form-error">
          {message}
        </p>
      )}
      <button type="submit" disabled={busy}>
        {busy ? 'Adding…' : 'Add channel'}
      </button>
    </form>
  );
}

/** The browser's IANA zones, for the zone input's suggestions. */
function TimeZones() {
  const zones = (() => {
    try {
      return (
        (Intl as unknown as { supportedValuesOf?: (key: string) => string[] }).supportedValuesOf?.(
          'timeZone',
        ) ?? []
      );
    } catch {
      return [];
    }
  })();
  return (
    <datalist id="pw-time-zones">
      {zones.map((zone) => (
        <option key={zone} value={zone} />
      ))}
    </datalist>
  );
}
