import Router from '@koa/router';
import type Koa from 'koa';
import type { ReplicaView } from '../core/sources/replication.js';
import type { AppState } from './app.js';
import { presentedToken, tokenMatches } from './auth.js';

export interface ReplicaRouteDeps {
  /** The view of this replica; `secrets` says whether passwords and certificates may be included. */
  view: (full: boolean, secrets: boolean) => ReplicaView;
  apiToken?: string;
}

/**
 * GET /v1/docker-flow-proxy/replica: what anti-entropy compares (a digest)
 * and pulls (?state=true). Passwords and certificates travel only to callers
 * holding the API token; without API_TOKEN they are never served, and
 * services that need them are marked redacted.
 */
export function replicaRoutes(deps: ReplicaRouteDeps): (app: Koa<AppState>) => void {
  const router = new Router<AppState>({ prefix: '/v1/docker-flow-proxy' });
  router.get('/replica', (ctx) => {
    const full = /^(1|t|true)$/i.test(new URLSearchParams(ctx.querystring).get('state') ?? '');
    const secrets = deps.apiToken !== undefined && tokenMatches(presentedToken(ctx), deps.apiToken);
    ctx.body = deps.view(full, secrets);
  });
  return (app) => {
    app.use(router.routes());
  };
}
