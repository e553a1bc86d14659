/** The dashboard's one door to the pairwatch API: the key, the errors, and what the page shows about both. */

const KEY_STORAGE = 'pairwatch.apiKey';

/** The API key for this browser session (sessionStorage: gone when the tab closes, never in a URL). */
export const apiKey = {
  get(): string | null {
    try {
      return sessionStorage.getItem(KEY_STORAGE);
    } catch {
      return null;
    }
  },
  set(key: string): void {
    sessionStorage.setItem(KEY_STORAGE, key);
  },
};

export interface FieldErrors {
  [field: string]: string[];
}

/** A refused or failed call. status 0: the API could not be reached at all. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly fields: FieldErrors = {},
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

/** What the banner at the top shows: the last thing learnt about the API as a whole. */
export type Connection =
  | { kind: 'ok' }
  | { kind: 'down'; message: string }
  | { kind: 'unauthorized'; hadKey: boolean; message: string }
  | { kind: 'rate-limited'; retryAfterSeconds: number | undefined; message: string; until?: number };

type Listener = (connection: Connection) => void;
const listeners = new Set<Listener>();
let current: Connection = { kind: 'ok' };

export const connection = {
  get: (): Connection => current,
  subscribe(listener: Listener): () => void {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
  report(next: Connection): void {
    if (
      next.kind === 'ok' &&
      (current.kind === 'ok' || (current.kind === 'rate-limited' && Date.now() < (current.until ?? 0)))
    ) {
      // A 429 stays on show until its Retry-After (or a few seconds) is over, whatever succeeds meanwhile.
      return;
    }
    current = next;
    for (const listener of listeners) listener(next);
  },
};

/**
 * Calls `reload` each time the API answers again after the banner said it was down (or refused): a part whose
 * last read failed reads again then, instead of showing "cannot reach" until the page is reloaded.
 */
export function onReconnect(reload: () => void): () => void {
  return connection.subscribe((next) => {
    if (next.kind === 'ok') reload();
  });
}

/** The headers of every call: the key, when there is one. */
export function authHeaders(): Record<string, string> {
  const key = apiKey.get();
  return key ? { 'X-API-Key': key } : {};
}

interface ErrorBody {
  message?: string | string[];
  errors?: { field: string; messages: string[] }[];
}

/** Turns an answer that is not 2xx into an ApiError, and tells the banner about 401 and 429. */
export async function errorOf(res: Response): Promise<ApiError> {
  let body: ErrorBody = {};
  try {
    body = (await res.json()) as ErrorBody;
  } catch {
    // not JSON (a proxy's page): the status says enough
  }
  const messages = Array.isArray(body.message) ? body.message : body.message ? [body.message] : [];
  const fields: FieldErrors = {};
  for (const error of body.errors ?? []) fields[error.field] = error.messages;
  const message = messages.join('; ') || `${res.status} ${res.statusText}`;
  const retryAfter = Number(res.headers.get('retry-after'));
  const retryAfterSeconds = Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter : undefined;
  if (res.status === 401) {
    connection.report({ kind: 'unauthorized', hadKey: apiKey.get() !== null, message });
  } else if (res.status === 429) {
    const until = Date.now() + Math.max(5, Math.min(retryAfterSeconds ?? 5, 120)) * 1000;
    connection.report({ kind: 'rate-limited', retryAfterSeconds, message, until });
  }
  return new ApiError(res.status, message, fields, retryAfterSeconds);
}

/** fetch with the key; a network failure is an ApiError with status 0 and the banner says the API is down. */
export async function send(path: string, init: RequestInit = {}): Promise<Response> {
  try {
    const res = await fetch(path, {
      ...init,
      headers: { Accept: 'application/json', ...authHeaders(), ...(init.headers as Record<string, string>) },
    });
    if (res.status !== 401 && res.status !== 429 && res.status < 500) connection.report({ kind: 'ok' });
    return res;
  } catch (error) {
    if ((error as Error).name === 'AbortError') throw error;
    const message = `cannot reach the pairwatch API (${(error as Error).message})`;
    connection.report({ kind: 'down', message });
    throw new ApiError(0, message);
  }
}

/** A JSON call: the parsed answer (undefined for 204), or an ApiError. */
export async function call<T>(
  method: string,
  path: string,
  body?: unknown,
  signal?: AbortSignal,
): Promise<T> {
  const res = await send(path, {
    method,
    signal,
    ...(body === undefined
      ? {}
      : { body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } }),
  });
  if (!res.ok) throw await errorOf(res);
  if (res.status === 204 || (res.status === 202 && res.headers.get('content-length') === '0'))
    return undefined as T;
  return (await res.json()) as T;
}

/** `?a=1&b=2` from the defined, non-empty values. */
export function query(params: Record<string, string | number | undefined | null>): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(name, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}
