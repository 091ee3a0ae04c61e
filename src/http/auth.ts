import crypto from 'node:crypto';
import type Koa from 'koa';
import { FlowError } from '../domain/errors.js';

/** Endpoints that change state: they need the API token when one is set. */
const MUTATING = /^\/v1\/docker-flow-proxy\/(reconfigure|remove|reload|cert)$/;

/**
 * The token a request carries: `Authorization: Bearer <token>`, the
 * password of `Authorization: Basic` (so docker-flow-swarm-listener URLs
 * such as http://x:<token>@proxy:8080/... work), or `X-Api-Token`.
 */
export function presentedToken(ctx: Koa.Context): string | undefined {
  const auth = ctx.get('Authorization');
  const bearer = /^Bearer\s+(.+)$/i.exec(auth);
  if (bearer) return (bearer[1] as string).trim();
  const basic = /^Basic\s+(.+)$/i.exec(auth);
  if (basic) {
    const decoded = Buffer.from(basic[1] as string, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon < 0 ? decoded : decoded.slice(colon + 1);
  }
  const header = ctx.get('X-Api-Token');
  return header === '' ? undefined : header;
}

/** Compares in constant time, whatever the lengths. */
export function tokenMatches(presented: string | undefined, expected: string): boolean {
  if (presented === undefined) return false;
  const a = crypto.createHash('sha256').update(presented).digest();
  const b = crypto.createHash('sha256').update(expected).digest();
  return crypto.timingSafeEqual(a, b);
}

export function isMutating(path: string): boolean {
  return MUTATING.test(path);
}

/** Refuses mutating calls without the token (401); read-only endpoints stay open and never show secrets. */
export function requireToken(token: string | undefined): Koa.Middleware {
  return async (ctx, next) => {
    if (token !== undefined && isMutating(ctx.path) && !tokenMatches(presentedToken(ctx), token)) {
      ctx.set('WWW-Authenticate', 'Bearer realm="flow-proxy"');
      throw new FlowError('UNAUTHORIZED', 'This endpoint needs the API token (Authorization: Bearer <token>, or X-Api-Token).');
    }
    await next();
  };
}
