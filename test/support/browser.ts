import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

/** Debian's Chromium (`apt-get install chromium`; .ci/run installs it). Never a browser downloaded by Playwright. */
export const CHROMIUM_PATH = process.env.TEST_CHROMIUM_PATH ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
];

/**
 * describe() for the browser suites: they run in Chromium or, with none at CHROMIUM_PATH, are skipped with a
 * loud banner; in CI (CI=true) a missing Chromium fails the run instead.
 */
export function describeWithChromium(name: string, fn: () => void): void {
  if (existsSync(CHROMIUM_PATH)) {
    describe(name, fn);
    return;
  }
  const reason = `no Chromium at ${CHROMIUM_PATH} (apt-get install chromium)`;
  if (process.env.CI === 'true') {
    describe(name, () => {
      it('needs Chromium in CI', () => {
        throw new Error(`the browser suite must run in CI: ${reason}`);
      });
    });
    return;
  }
  console.warn(`!!!! SKIPPED "${name}": ${reason}`);
  describe.skip(`${name} [skipped: ${reason}]`, fn);
}

export interface TestBrowser {
  context: BrowserContext;
  /** What the browser says it is (CDP Browser.getVersion), e.g. "Chrome/156.0.8078.114". */
  version: string;
  close(): Promise<void>;
}

/** Chromium, headless, with a fresh user-data dir of its own (removed at close). */
export async function launchChromium(): Promise<TestBrowser> {
  const profile = mkdtempSync(join(tmpdir(), 'pairwatch-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 900 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const cdp = await context.newCDPSession(page);
  const { product } = (await cdp.send('Browser.getVersion')) as { product: string };
  await cdp.detach();
  const bar = '#'.repeat(78);
  process.stdout.write(
    `\n${bar}\n## BROWSER SUITE: running in real Chromium ${product}\n## executable ${CHROMIUM_PATH}, profile ${profile}\n${bar}\n\n`,
  );
  return {
    context,
    version: product,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Errors the page threw or logged, for a test to assert there were none. */
export function collectPageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`);
  });
  return errors;
}
