import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from '../common/project-root';
import { dashboardCacheControl, dashboardFiles } from './dashboard-static';

describe('dashboard static files', () => {
  it('keeps hashed assets a year and revalidates index.html', () => {
    expect(dashboardCacheControl('/app/dist/dashboard/assets/index-abc123.js')).toBe(
      'public, max-age=31536000, immutable',
    );
    expect(dashboardCacheControl('/app/dist/dashboard/index.html')).toBe('no-cache');
  });

  it('finds the folder with package.json above the code (the repository, or /app in the image)', () => {
    const root = mkdtempSync(join(tmpdir(), 'pw-root-'));
    writeFileSync(join(root, 'package.json'), '{}');
    const deep = join(root, 'dist', 'apps', 'api', 'dashboard');
    mkdirSync(deep, { recursive: true });
    expect(projectRoot(deep)).toBe(root);
    expect(projectRoot(join(__dirname))).toBe(join(__dirname, '..', '..', '..', '..'));
  });

  it('lists the build’s files by URL path, nested folders included, and nothing else', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pw-dashboard-'));
    mkdirSync(join(dir, 'assets', 'fonts'), { recursive: true });
    writeFileSync(join(dir, 'index.html'), '<!doctype html>');
    writeFileSync(join(dir, 'assets', 'index-abc123.js'), '');
    writeFileSync(join(dir, 'assets', 'fonts', 'a.woff2'), '');
    expect(Object.fromEntries(dashboardFiles(dir))).toEqual({
      '/index.html': join(dir, 'index.html'),
      '/assets/index-abc123.js': join(dir, 'assets', 'index-abc123.js'),
      '/assets/fonts/a.woff2': join(dir, 'assets', 'fonts', 'a.woff2'),
    });
  });
});
