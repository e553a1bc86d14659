import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { NextFunction, Request, Response } from 'express';

/** Where `npm run build:dashboard` (Vite) writes the dashboard, relative to the repository (or image) root. */
export const DASHBOARD_DIST = join('dist', 'dashboard');

/** The folder holding package.json above `from` (the repository in development, /app in the image). */
export function projectRoot(from: string = __dirname): string | undefined {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return undefined;
  }
}

/** index.html is revalidated on every load; the hashed files under assets/ never change, so they are kept a year. */
export function dashboardCacheControl(path: string): string {
  return /[\\/]assets[\\/]/.test(path) ? 'public, max-age=31536000, immutable' : 'no-cache';
}

/**
 * Serves the built dashboard at `/` with no API key (the page asks for one and sends it on its API calls).
 * Registered before Nest's routes, it answers only for files that exist, so the API's routes, /docs and
 * /health are untouched. Without a build, `/` says how to make one instead of a 404.
 */
export function serveDashboard(app: NestExpressApplication, dir = defaultDashboardDir()): void {
  if (dir && existsSync(join(dir, 'index.html'))) {
    app.useStaticAssets(dir, {
      index: 'index.html',
      redirect: false,
      setHeaders: (res: Response, path: string) =>
        res.setHeader('Cache-Control', dashboardCacheControl(path)),
    });
    return;
  }
  app.use((req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'GET' || req.path !== '/') return next();
    res
      .status(503)
      .type('text/plain')
      .send(
        'The dashboard is not built: run `npm run build` (or `npm run build:dashboard`). The API is up: /docs',
      );
  });
}

function defaultDashboardDir(): string | undefined {
  const root = projectRoot();
  return root && join(root, DASHBOARD_DIST);
}
