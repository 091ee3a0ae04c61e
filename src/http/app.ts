import crypto from 'node:crypto';
import Koa from 'koa';
import { FlowError } from '../domain/errors.js';
import type { Log } from '../core/log.js';

export interface AppState {
  changeId: string;
  log: Log;
}

export interface AppOptions {
  log: Log;
  /** Largest accepted query string, in bytes (414 above). */
  maxQueryBytes?: number;
}

/**
 * The Koa application shell: a change id per request, one error funnel that
 * shows messages only for client errors, and docker-flow-proxy's strict
 * trailing slash (a 301 to the path without it).
 */
export function createApp(options: AppOptions, mount: (app: Koa<AppState>) => void): Koa<AppState> {
  const app = new Koa<AppState>();
  app.proxy = false;
  const maxQuery = options.maxQueryBytes ?? 64 * 1024;
  app.use(async (ctx, next) => {
    const incoming = ctx.get('X-Change-Id');
    ctx.state.changeId = /^[A-Za-z0-9_.:-]{1,64}$/.test(incoming) ? incoming : crypto.randomUUID().slice(0, 8);
    ctx.state.log = options.log.child({ changeId: ctx.state.changeId });
    ctx.set('X-Change-Id', ctx.state.changeId);
    try {
      if (ctx.querystring.length > maxQuery) {
        throw new FlowError('URI_TOO_LONG', `The query string is ${ctx.querystring.length} bytes; the limit is ${maxQuery}.`, 414);
      }
      if (ctx.path.length > 1 && ctx.path.endsWith('/')) {
        ctx.status = 301;
        ctx.redirect(ctx.path.replace(/\/+$/, '') + (ctx.querystring ? `?${ctx.querystring}` : ''));
        return;
      }
      await next();
      if (ctx.status === 404 && ctx.body === undefined) {
        ctx.status = 404;
        ctx.body = { Status: 'NOK', Message: `No such endpoint: ${ctx.method} ${ctx.path}` };
      }
    } catch (e) {
      const status = e instanceof FlowError ? e.status : (e as { status?: number }).status ?? 500;
      const expose = status < 500;
      ctx.status = status;
      ctx.body = { Status: 'NOK', Message: expose ? (e as Error).message : 'Internal error; see the proxy log for details.' };
      if (!expose) ctx.state.log.error({ err: e }, 'request failed');
    }
  });
  mount(app);
  return app;
}
