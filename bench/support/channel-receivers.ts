/**
 * The receivers of bench/channels.bench.ts, each in a process of its own (forked from this file), so that
 * neither the benchmark's own sending nor the other receiver slows what they note: `http` (every HTTP channel;
 * requests to `/am-x/…` passed on to the real Alertmanager and noted once it has answered 200) and `smtp` (a
 * local smtp-server with STARTTLS and AUTH; the recipient's local part names the channel).
 *
 * Each notes, per channel label, the arrival times of the wanted ids (monitor ids, one per alert) found in a
 * request, and for the benchmark's direct sends (header `x-bench-sent-at`) sent → received.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { Agent, createServer, request, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export const SMTP_USER = 'bench';
export const SMTP_PASSWORD = 'bench-smtp-password';
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

type Role = 'http' | 'smtp';
type ToChild =
  { type: 'wanted'; ids: string[] } | { type: 'progress' } | { type: 'dump' } | { type: 'close' };
type FromChild =
  | { type: 'ready'; port: number }
  | { type: 'progress'; arrivals: Record<string, number>; direct: Record<string, number> }
  | { type: 'dump'; arrivals: Record<string, [string, number[]][]>; direct: Record<string, number[]> };

/** What one receiver process noted. */
export interface Noted {
  arrivals: Map<string, Map<string, number[]>>;
  direct: Map<string, number[]>;
}

export interface ReceiverProcess {
  port: number;
  /** Per label: how many wanted ids have arrived, and how many direct sends. */
  progress(): Promise<{ arrivals: Record<string, number>; direct: Record<string, number> }>;
  setWanted(ids: string[]): void;
  dump(): Promise<Noted>;
  close(): Promise<void>;
}

/** Forks a receiver process of `role`; `alertmanagerPort` for `http`. */
export async function startReceiver(role: Role, alertmanagerPort = 0): Promise<ReceiverProcess> {
  const child: ChildProcess = fork(__filename, [role, String(alertmanagerPort)], {
    execArgv: ['-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const next = <T extends FromChild['type']>(type: T) =>
    new Promise<Extract<FromChild, { type: T }>>((resolve, reject) => {
      const onMessage = (message: FromChild) => {
        if (message.type !== type) return;
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(message as Extract<FromChild, { type: T }>);
      };
      const onExit = (code: number | null) => reject(new Error(`the ${role} receiver exited (${code})`));
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  const send = (message: ToChild) => child.send(message);
  const { port } = await next('ready');
  return {
    port,
    progress: async () => {
      const answer = next('progress');
      send({ type: 'progress' });
      const { arrivals, direct } = await answer;
      return { arrivals, direct };
    },
    setWanted: (ids) => send({ type: 'wanted', ids }),
    dump: async () => {
      const answer = next('dump');
      send({ type: 'dump' });
      const { arrivals, direct } = await answer;
      return {
        arrivals: new Map(Object.entries(arrivals).map(([label, entries]) => [label, new Map(entries)])),
        direct: new Map(Object.entries(direct)),
      };
    },
    close: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      send({ type: 'close' });
      await exited;
    },
  };
}

// ---- the receiver process ----

function runChild(role: Role, alertmanagerPort: number): void {
  const wanted = new Set<string>();
  const arrivals = new Map<string, Map<string, number[]>>();
  const direct = new Map<string, number[]>();
  const record = (label: string, body: string, at: number) => {
    let into = arrivals.get(label);
    if (!into) arrivals.set(label, (into = new Map()));
    for (const id of new Set(body.match(UUID) ?? [])) {
      if (!wanted.has(id)) continue;
      const times = into.get(id);
      if (times) times.push(at);
      else into.set(id, [at]);
    }
  };
  const noteDirect = (label: string, ms: number) => {
    const samples = direct.get(label);
    if (samples) samples.push(ms);
    else direct.set(label, [ms]);
  };
  let close: () => Promise<void> = () => Promise.resolve();
  const reply = (message: FromChild) => process.send?.(message);
  process.on('message', (message: ToChild) => {
    if (message.type === 'wanted') for (const id of message.ids) wanted.add(id);
    else if (message.type === 'progress')
      reply({
        type: 'progress',
        arrivals: Object.fromEntries([...arrivals].map(([label, m]) => [label, m.size])),
        direct: Object.fromEntries([...direct].map(([label, s]) => [label, s.length])),
      });
    else if (message.type === 'dump')
      reply({
        type: 'dump',
        arrivals: Object.fromEntries([...arrivals].map(([label, m]) => [label, [...m]])),
        direct: Object.fromEntries(direct),
      });
    else void close().then(() => process.exit(0));
  });

  if (role === 'http') {
    const amAgent = new Agent({ keepAlive: true, maxSockets: 32 });
    const server = createServer((req, res) => {
      void readBody(req).then((body) => {
        const url = req.url ?? '/';
        const label = labelOf(url);
        const sentAt = Number(req.headers['x-bench-sent-at']);
        const note = (at: number) => {
          if (!label) return;
          if (sentAt) noteDirect(label, at - sentAt);
          else record(label, body, at);
        };
        if (label?.startsWith('am-')) {
          const forward = request(
            {
              host: '127.0.0.1',
              port: alertmanagerPort,
              path: '/api/v2/alerts',
              method: 'POST',
              agent: amAgent,
              headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
            },
            (answer) => {
              const status = answer.statusCode ?? 502;
              answer.resume().on('end', () => {
                if (status === 200) note(Date.now());
                res.writeHead(status).end();
              });
            },
          );
          forward.on('error', () => res.writeHead(502).end());
          forward.end(body);
          return;
        }
        note(Date.now());
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(url.startsWith('/bot') ? '{"ok":true,"result":{}}' : '');
      });
    });
    server.listen(0, '127.0.0.1', () =>
      reply({ type: 'ready', port: (server.address() as AddressInfo).port }),
    );
    close = () => {
      amAgent.destroy();
      server.closeAllConnections();
      return new Promise<void>((done) => server.close(() => done()));
    };
  } else {
    const server = new SMTPServer({
      logger: false,
      authOptional: false,
      onAuth: (auth, _session, cb) =>
        auth.username === SMTP_USER && auth.password === SMTP_PASSWORD
          ? cb(null, { user: auth.username })
          : cb(new Error('Invalid username or password')),
      onData: (stream, session, cb) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          const at = Date.now();
          const label = session.envelope.rcptTo[0]?.address.split('@')[0] ?? '';
          // Quoted-printable may break a line inside an id: join the soft breaks first.
          const raw = Buffer.concat(chunks)
            .toString('utf8')
            .replace(/=\r?\n/g, '');
          const sentAt = Number(/^x-bench-sent-at: (\d+)/im.exec(raw)?.[1]);
          if (sentAt) noteDirect(label, at - sentAt);
          else record(label, raw, at);
          cb();
        });
      },
    });
    server.on('error', () => undefined);
    server.listen(0, '127.0.0.1', () =>
      reply({ type: 'ready', port: (server.server.address() as AddressInfo).port }),
    );
    close = () => new Promise<void>((done) => server.close(() => done()));
  }
}

/** Which channel an HTTP request is for: `/h/<label>`, `/ntfy/` (ntfy's root), `/bot…` (Telegram), `/am-x/…`. */
function labelOf(url: string): string | undefined {
  if (url.startsWith('/bot')) return 'telegram';
  if (url.startsWith('/ntfy/')) return 'ntfy';
  if (url.startsWith('/h/')) return url.slice(3);
  return /^\/(am-[ab])\/api\/v2\/alerts$/.exec(url)?.[1];
}

const readBody = (req: IncomingMessage) =>
  new Promise<string>((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });

if (require.main === module && process.send) runChild(process.argv[2] as Role, Number(process.argv[3]));
