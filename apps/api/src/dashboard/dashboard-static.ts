import { existsSync, readdirSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { NextFunction, Request, Response } from 'express';
import { projectRoot } from '../common/project-root';

/** Where `npm run build:dashboard` (Vite) writes the dashboard, relative to the repository (or image) root. */
export const DASHBOARD_DIST = join('dist', 'dashboard');

/** index.html is revalidated on every load; the hashed files under assets/ never change, so they are kept a year. */
export function dashboardCacheControl(path: string): string {
  return /[\\/]assets[\\/]/.test(path) ? 'public, max-age=31536000, immutable' : 'no-cache';
}

/** The URL path of every file under `dir` (`/index.html`, `/assets/index-abc123.js`, …) and its file. */
export function dashboardFiles(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = join(entry.parentPath, entry.name);
    files.set(`/${relative(dir, file).split(sep).join('/')}`, file);
  }
  return files;
}

/**
 * Serves the built dashboard at `/` with no API key (the page asks for one and sends it on its API calls).
 * Registered before Nest's routes, it answers only for the files the build holds, listed once at start-up,
 * so every other request (the API's routes, /docs, /health) goes on at once, without a look at the disk.
 * Without a build, `/` says how to make one instead of a 404.
 */
export function serveDashboard(app: NestExpressApplication, dir = defaultDashboardDir()): void {
  if (dir && existsSync(join(dir, 'index.html'))) {
    const files = dashboardFiles(dir);
    app.use((req: Request, res: Response, next: NextFunction) => {
      if (req.method !== 'GET' && req.method !== 'HEAD') return next();
      const file = files.get(req.path === '/' ? '/index.html' : req.path);
      if (!file) return next();
      res.sendFile(file, { headers: { 'Cache-Control': dashboardCacheControl(file) } }, (error) => {
        if (error && !res.headersSent) next(error);
      });
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
