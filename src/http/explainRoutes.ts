import Router from '@koa/router';
import type Koa from 'koa';
import type { Reconciler } from '../core/reconcile/reconciler.js';
import { FlowError } from '../domain/errors.js';
import { explain, type ExplainRequest } from '../render/explain.js';
import type { RouteOrder } from '../render/routes.js';
import type { AppState } from './app.js';
import { queryEntries } from './dfpRoutes.js';

export interface ExplainRouteDeps {
  engine: Pick<Reconciler, 'liveModel'>;
  /** ROUTE_ORDER, which the routes were ordered by. */
  routeOrder: RouteOrder;
}

const PARAMS = new Set(['path', 'host', 'method', 'port', 'header']);
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/;
const PRINTABLE = /^[\x21-\x7e]*$/;
const MAX = 8192;

const bad = (param: string, value: string, problem: string) =>
  new FlowError('BAD_EXPLAIN', `Parameter ${param} "${value.length > 80 ? `${value.slice(0, 80)}…` : value}" ${problem}.`);

/** Reads and checks the query of /explain; every problem names the parameter and its value. */
export function explainRequest(querystring: string): ExplainRequest {
  const single = new Map<string, string>();
  const headers: Array<[string, string]> = [];
  for (const [rawKey, value] of queryEntries(querystring)) {
    const key = rawKey.toLowerCase();
    if (!PARAMS.has(key)) throw new FlowError('BAD_EXPLAIN', `Parameter ${rawKey} is not known: explain takes path, host, method, port and header (which may repeat).`);
    if (value.length > MAX) throw bad(key, value, `is longer than ${MAX} characters`);
    if (key === 'header') {
      const colon = value.indexOf(':');
      const name = colon < 0 ? '' : value.slice(0, colon).trim();
      if (!TOKEN.test(name)) throw bad('header', value, 'must be Name:value with a header name (letters, digits, "-")');
      const v = value.slice(colon + 1).trim();
      if (/[\x00-\x08\x0a-\x1f\x7f]/.test(v)) throw bad('header', value, 'holds a control character');
      headers.push([name, v]);
      continue;
    }
    const seen = single.get(key);
    if (seen !== undefined && seen !== value) throw bad(key, value, `is given more than once (also "${seen}")`);
    single.set(key, value);
  }
  const path = single.get('path') ?? '/';
  if (!path.startsWith('/') || !PRINTABLE.test(path)) throw bad('path', path, 'must be a request path beginning with "/" (spaces and control characters percent-encoded), optionally with a query string');
  const host = single.get('host');
  if (host !== undefined && (host === '' || !PRINTABLE.test(host) || host.includes(','))) throw bad('host', host, 'must be a host name, optionally with :port (no spaces, commas or control characters)');
  const method = single.get('method') ?? 'GET';
  if (!TOKEN.test(method)) throw bad('method', method, 'must be an HTTP method such as GET or POST');
  const portText = single.get('port');
  let port: number | undefined;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) throw bad('port', portText, 'must be a port number from 1 to 65535');
    port = Number(portText);
  }
  return { path, ...(host !== undefined && { host }), method, ...(port !== undefined && { port }), headers };
}

/**
 * GET /v1/docker-flow-proxy/explain: which service a request with these
 * properties reaches and why, from the model HAProxy runs.
 */
export function explainRoutes(deps: ExplainRouteDeps): (app: Koa<AppState>) => void {
  const router = new Router<AppState>({ prefix: '/v1/docker-flow-proxy' });
  router.get('/explain', (ctx) => {
    const request = explainRequest(ctx.querystring);
    const model = deps.engine.liveModel;
    if (!model) {
      ctx.status = 503;
      ctx.body = { Status: 'NOK', Message: 'Nothing is live yet: flow-proxy is still starting.' };
      return;
    }
    ctx.body = { Status: 'OK', ...explain(model, request, deps.routeOrder) };
  });
  return (app) => {
    app.use(router.routes());
    app.use(router.allowedMethods());
  };
}
