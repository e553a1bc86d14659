import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer, Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A Unix socket the test owns, piped to the Docker engine's. Point an API's DOCKER_HOST at it
 * (`unix://<path>`), then cut it (the socket file is gone, open connections are dropped: to the API the
 * engine is unreachable) and restore it. Only the API under test loses the engine; everyone else keeps it.
 */
export interface DockerSocketProxy {
  path: string;
  /** `unix://<path>`, for DOCKER_HOST. */
  dockerHost: string;
  /** Requests answered by the engine through the proxy, as "METHOD /path". */
  requests: string[];
  /** The same requests with their query strings, as "METHOD /path?query" (URL-encoded as sent). */
  targets: string[];
  cut(): Promise<void>;
  restore(): Promise<void>;
  /** Drops (without forwarding) every request whose "METHOD /path" line matches, until cleared. */
  refuse(pattern: RegExp | undefined): void;
  /** Holds (never forwards, never answers) every request whose line matches: an engine that hangs. */
  stall(pattern: RegExp | undefined): void;
  close(): Promise<void>;
}

/** The engine's socket: DOCKER_HOST when it names one, else /var/run/docker.sock. */
export function engineSocketPath(): string {
  const host = process.env.DOCKER_HOST;
  if (host?.startsWith('unix://')) return host.slice('unix://'.length);
  return '/var/run/docker.sock';
}

const REQUEST_LINE = /^([A-Z]+) (\S+) HTTP\/1\.[01]\r\n/;

export async function startDockerSocketProxy(target = engineSocketPath()): Promise<DockerSocketProxy> {
  const dir = mkdtempSync(join(tmpdir(), 'pairwatch-faults-docker-'));
  const path = join(dir, 'docker.sock');
  const sockets = new Set<Socket>();
  const requests: string[] = [];
  const targets: string[] = [];
  let refused: RegExp | undefined;
  let stalled: RegExp | undefined;
  let server: Server | undefined;

  const onConnection = (client: Socket): void => {
    const engine = createConnection(target);
    sockets.add(client);
    sockets.add(engine);
    const drop = (): void => {
      client.destroy();
      engine.destroy();
      sockets.delete(client);
      sockets.delete(engine);
    };
    client.on('error', drop);
    engine.on('error', drop);
    client.on('close', drop);
    engine.on('close', drop);
    client.on('data', (chunk: Buffer) => {
      const line = REQUEST_LINE.exec(chunk.toString('latin1', 0, Math.min(chunk.length, 2048)));
      if (line) {
        const request = `${line[1]} ${line[2].split('?')[0]}`;
        if (refused?.test(request)) {
          // Closed before an answer: the client sees "socket hang up" (ECONNRESET).
          drop();
          return;
        }
        if (stalled?.test(request)) {
          // Swallowed: this connection stays open and silent (until cut).
          client.removeAllListeners('data');
          client.on('data', () => undefined);
          return;
        }
        requests.push(request);
        targets.push(`${line[1]} ${line[2]}`);
      }
      if (!engine.write(chunk)) client.pause();
    });
    engine.on('drain', () => client.resume());
    engine.pipe(client);
  };

  const listen = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const next = createServer(onConnection);
      next.once('error', reject);
      next.listen(path, () => {
        next.off('error', reject);
        server = next;
        resolve();
      });
    });

  const cut = async (): Promise<void> => {
    const current = server;
    server = undefined;
    for (const socket of sockets) socket.destroy();
    sockets.clear();
    if (current) await new Promise<void>((resolve) => current.close(() => resolve()));
    if (existsSync(path)) rmSync(path, { force: true });
  };

  await listen();
  return {
    path,
    dockerHost: `unix://${path}`,
    requests,
    targets,
    cut,
    restore: async () => {
      if (!server) await listen();
    },
    refuse: (pattern) => {
      refused = pattern;
    },
    stall: (pattern) => {
      stalled = pattern;
    },
    close: async () => {
      await cut();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Whether the engine answers and has `image`, checked synchronously (so a suite can decide to run or skip
 * at load time): "yes", or the reason it cannot run.
 */
export function dockerStatusSync(image: string, socket = engineSocketPath()): string {
  const script = `
    const http = require('node:http');
    const get = (path) => new Promise((resolve, reject) => {
      const req = http.get({ socketPath: ${JSON.stringify(socket)}, path, timeout: 3000 }, (res) => {
        res.resume();
        resolve(res.statusCode);
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
    });
    get('/_ping')
      .then(() => get('/images/' + encodeURIComponent(${JSON.stringify(image)}) + '/json'))
      .then((status) => process.stdout.write(status === 200 ? 'yes' : 'the worker image ${image} is not built; run "npm run images -- --worker-only"'))
      .catch((error) => process.stdout.write('no Docker engine at ${socket} (' + error.message + ')'));
  `;
  const result = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10_000 });
  return result.stdout || `could not check the Docker engine (${result.stderr || result.error?.message})`;
}
