import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from './wait';
import { freePort } from './faults/util';

export const ALERTMANAGER_BIN = process.env.ALERTMANAGER_BIN ?? '/usr/bin/prometheus-alertmanager';

/** Whether Debian's prometheus-alertmanager is installed (.ci/run installs it). */
export const alertmanagerInstalled = (): boolean => existsSync(ALERTMANAGER_BIN);

/** An alert as Alertmanager's API v2 answers GET /api/v2/alerts. */
export interface AlertmanagerAlertView {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  status: { state: string };
}

/**
 * A real Alertmanager for the suite: its own config (one receiver that goes nowhere) and storage directory,
 * clustering off, listening on 127.0.0.1 at a free port.
 */
export class TestAlertmanager {
  port = 0;
  private child: ChildProcess | undefined;
  private dir = '';
  private output = '';

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    this.port = await freePort();
    this.dir = mkdtempSync(join(tmpdir(), 'pairwatch-alertmanager-'));
    const config = join(this.dir, 'alertmanager.yml');
    writeFileSync(config, 'route:\n  receiver: nowhere\n  group_wait: 1h\nreceivers:\n  - name: nowhere\n');
    this.child = spawn(
      ALERTMANAGER_BIN,
      [
        `--config.file=${config}`,
        `--storage.path=${join(this.dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${this.port}`,
        '--cluster.listen-address=',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child.stdout?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.child.stderr?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    await eventually(
      'Alertmanager ready',
      async () => {
        if (this.child?.exitCode !== null)
          throw new Error(`Alertmanager exited: ${this.output.slice(-2000)}`);
        try {
          return (await fetch(`${this.url}/-/ready`)).ok ? true : undefined;
        } catch {
          return undefined;
        }
      },
      20_000,
    );
    return this;
  }

  async alerts(): Promise<AlertmanagerAlertView[]> {
    const response = await fetch(`${this.url}/api/v2/alerts`);
    return (await response.json()) as AlertmanagerAlertView[];
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}
