import Router from '@koa/router';
import type Koa from 'koa';
import type { Acme } from '../acme.js';
import type { PeerAcmeView } from '../adapters/acme/peerShared.js';
import { FlowError } from '../domain/errors.js';
import type { AppState } from './app.js';
import { presentedToken, tokenMatches } from './auth.js';

const MAX_BODY = 1024 * 1024;

/**
 * /v1/docker-flow-proxy/acme: what replicas without a shared store
 * exchange (PEERS). GET answers this replica's ACME state (certificates and
 * account keys only with the API token); POST takes a peer's push (the API
 * token is required) and answers once its challenges are served here.
 */
export function acmeRoutes(deps: { acme: Acme; apiToken?: string }): (app: Koa<AppState>) => void {
  const router = new Router<AppState>({ prefix: '/v1/docker-flow-proxy' });
  const authorised = (ctx: Koa.Context) => deps.apiToken !== undefined && tokenMatches(presentedToken(ctx), deps.apiToken);
  router.get('/acme', (ctx) => {
    const secrets = authorised(ctx);
    if (deps.apiToken !== undefined && !secrets) throw new FlowError('UNAUTHORIZED', 'This endpoint needs the API token (Authorization: Bearer <token>, or X-Api-Token).');
    ctx.body = { ...deps.acme.manager.snapshot(secrets), Instance: deps.acme.peers?.instance ?? '' };
  });
  router.post('/acme', async (ctx) => {
    if (!authorised(ctx)) throw new FlowError('UNAUTHORIZED', 'Pushing ACME state needs API_TOKEN set and presented (Authorization: Bearer <token>).');
    if (!deps.acme.peers) throw new FlowError('ACME_NO_PEERS', 'This replica shares ACME through its store, not through peers.');
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of ctx.req) {
      size += (chunk as Buffer).length;
      if (size > MAX_BODY) throw new FlowError('BODY_TOO_LARGE', `The request body exceeds the limit of ${MAX_BODY} bytes.`);
      chunks.push(chunk as Buffer);
    }
    let view: PeerAcmeView;
    try {
      view = JSON.parse(Buffer.concat(chunks).toString('utf8')) as PeerAcmeView;
    } catch {
      throw new FlowError('BAD_ACME_PUSH', 'The body is not JSON.');
    }
    if (typeof view !== 'object' || view === null) throw new FlowError('BAD_ACME_PUSH', 'The body is not an ACME view.');
    await deps.acme.manager.receive(deps.acme.peers.receive(view), 'peer');
    ctx.body = { Status: 'OK', Message: '' };
  });
  return (app) => {
    app.use(router.routes());
  };
}
