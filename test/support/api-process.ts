import { ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { eventually } from './wait';
import { freePort } from './faults/util';
import { TEST_ENV, TEST_SECRETS_KEY, testDatabaseUrl, testRedisUrl } from './test-env';

const MAIN = join(__dirname, '../../dist/apps/api/main.js');

export interface ApiProcess {
  url: string;
  child: ChildProcess;
  output(): string;
  /** Sends the signal and waits for the process to end. */
  kill(signal: NodeJS.Signals): Promise<void>;
}

/**
 * Runs the built API (`npm run build`) as its own process, as `npm run up` does, so a test can SIGKILL it.
 * Resolves once /health answers.
 */
export async function spawnApi(env: Record<string, string>): Promise<ApiProcess> {
  if (!existsSync(MAIN))
    throw new Error(`the API is not built (${MAIN} is missing): run "npm run build" first`);
  const port = await freePort();
  let output = '';
  const child = spawn(process.execPath, [MAIN], {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      ...(process.env.DOCKER_HOST ? { DOCKER_HOST: process.env.DOCKER_HOST } : {}),
      PORT: String(port),
      DATABASE_URL: testDatabaseUrl(),
      REDIS_URL: testRedisUrl(),
      SECRETS_KEY: TEST_SECRETS_KEY,
      WORKER_RUNTIME: 'docker',
      WORKER_NETWORK: 'host',
      WORKER_IMAGE: TEST_ENV.workerImage,
      PAIRWATCH_INSTANCE: TEST_ENV.instance,
      UPHOLD_API_URL: 'http://127.0.0.1:9',
      // Suites assert against the pair endpoint's faults and counts: workers poll it directly unless a
      // suite about the relay passes UPHOLD_RELAY=on.
      UPHOLD_RELAY: 'off',
      // Suites start many monitors a minute; the one about the limit sets its own.
      MONITOR_CREATE_LIMIT_PER_MIN: '1000000',
      LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  try {
    await eventually(
      'the API process to answer /health',
      async () => {
        if (child.exitCode !== null)
          throw new Error(`the API exited with ${child.exitCode}: ${output.slice(-2000)}`);
        const res = await fetch(`${url}/health`);
        return res.status > 0 ? true : undefined;
      },
      30_000,
    );
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return {
    url,
    child,
    output: () => output,
    kill: async (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}
