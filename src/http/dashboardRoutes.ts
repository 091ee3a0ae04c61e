import fs from 'node:fs/promises';
import path from 'node:path';
import Router from '@koa/router';
import type Koa from 'koa';
import type { AppState } from './app.js';
import { dashboardState, type DashboardDeps } from './dashboardState.js';

/** The dashboard's files (in the repository's dashboard/ folder), by URL; nothing else is served from there. */
const ASSETS: Record<string, { file: string; type: string }> = {
  '/dashboard': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/dashboard/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
};

/** The page may talk to its own origin only: no CDN, no other host, no inline code. */
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** Where the dashboard's files are: dashboard/ beside dist/ (from dist/src/http). */
export function dashboardDir(): string {
  return path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..', '..', 'dashboard');
}

/**
 * GET /dashboard (and its script and style) and its data,
 * GET /v1/docker-flow-proxy/dashboard/state. Read-only, like the endpoints
 * the page reads; the API token guards only what changes state.
 */
export function dashboardRoutes(deps: DashboardDeps & { dir?: string }): (app: Koa<AppState>) => void {
  const dir = deps.dir ?? dashboardDir();
  const router = new Router<AppState>();
  for (const [url, asset] of Object.entries(ASSETS)) {
    router.get(url, async (ctx) => {
      ctx.set('Content-Security-Policy', CSP);
      ctx.set('X-Content-Type-Options', 'nosniff');
      ctx.set('Referrer-Policy', 'no-referrer');
      ctx.set('Cache-Control', 'no-cache');
      ctx.type = asset.type;
      ctx.body = await fs.readFile(path.join(dir, asset.file));
    });
  }
  router.get('/v1/docker-flow-proxy/dashboard/state', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = await dashboardState(deps);
  });
  return (app) => {
    app.use(router.routes());
  };
}
