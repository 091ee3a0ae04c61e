import crypto from 'node:crypto';
import Koa from 'koa';
import { FlowError } from '../domain/errors.js';
import type { Log } from '../core/log.js';
import type { Metrics } from '../adapters/metrics.js';
import { requireToken } from './auth.js';
import { errorStatus } from './errors.js';

/** Largest request body any endpoint accepts (certificates are the largest). */
export const MAX_BODY = 1024 * 1024;

export interface AppState {
  changeId: string;
  log: Log;
}

export interface AppOptions {
  log: Log;
  /** Largest accepted query string, in bytes (414 above). */
  maxQueryBytes?: number;
  /** API_TOKEN: when set, mutating endpoints need it. */
  apiToken?: string;
  metrics?: Metrics;
}

/**
 * The Koa application shell: a change id per request, one error funnel that
 * shows messages only for client errors, and docker-flow-proxy's strict
 * trailing slash (a 301 to the path without it).
 */
export function createApp(options: AppOptions, mount: (app: Koa<AppState>) => void): Koa<AppState> {
  const app = new Koa<AppState>();
  app.proxy = false;
  const maxQuery = options.maxQueryBytes ?? 32 * 1024;
  app.use(async (ctx, next) => {
    const incoming = ctx.get('X-Change-Id');
    ctx.state.changeId = /^[A-Za-z0-9_.:-]{1,64}$/.test(incoming) ? incoming : crypto.randomUUID().slice(0, 8);
    ctx.state.log = options.log.child({ changeId: ctx.state.changeId });
    ctx.set('X-Change-Id', ctx.state.changeId);
    try {
      if (ctx.querystring.length > maxQuery) {
        throw new FlowError('URI_TOO_LONG', `The query string is ${ctx.querystring.length} bytes; the limit is ${maxQuery}.`);
      }
      const length = Number(ctx.get('Content-Length') || 0);
      if (length > MAX_BODY) throw new FlowError('BODY_TOO_LARGE', `The request body is ${length} bytes and exceeds the limit of ${MAX_BODY} bytes.`);
      if (ctx.path.length > 1 && ctx.path.endsWith('/')) {
        ctx.status = 301;
        ctx.redirect(ctx.path.replace(/\/+$/, '') + (ctx.querystring ? `?${ctx.querystring}` : ''));
        return;
      }
      await requireToken(options.apiToken)(ctx, next);
      if (ctx.status === 404 && ctx.body === undefined) {
        ctx.status = 404;
        ctx.body = { Status: 'NOK', Message: `No such endpoint: ${ctx.method} ${ctx.path}` };
      }
    } catch (e) {
      const status = errorStatus(e);
      const expose = status < 500;
      ctx.status = status;
      ctx.body = { Status: 'NOK', Message: expose ? (e as Error).message : 'Internal error; see the proxy log for details.' };
      if (!expose) ctx.state.log.error({ err: e }, 'request failed');
    }
    const endpoint = /^\/v1\/docker-flow-proxy\/([a-z]+)$/.exec(ctx.path)?.[1];
    if (options.metrics && endpoint) {
      const outcome = ctx.status === 401 ? 'unauthorized' : ctx.status >= 500 ? 'error' : ctx.status >= 400 ? 'rejected' : 'ok';
      options.metrics.apiCalls.inc({ endpoint, outcome });
    }
  });
  mount(app);
  return app;
}
