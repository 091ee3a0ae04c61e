import type Koa from 'koa';
import { peerRequest } from '../adapters/peers/client.js';
import { fanOut, type FanoutPolicy, type PeerOutcome } from '../core/sources/fanout.js';
import type { AppState } from './app.js';

export type Distribute = (ctx: Koa.ParameterizedContext<AppState>, extra: { body?: string; stamp?: number }) => Promise<PeerOutcome[]>;

export interface DistributorOptions {
  peers: () => Promise<string[]>;
  policy: FanoutPolicy;
  timeoutMs: number;
  onOutcome?: (outcome: PeerOutcome) => void;
}

/** Headers a forwarded change keeps: its change id, the caller's credentials, and the write time it was given here. */
const FORWARDED = ['x-change-id', 'authorization', 'x-api-token', 'content-type'];

/**
 * distribute=true: the change is applied here first, then sent to every peer
 * at once with distribute=false, each with a timeout and retries.
 */
export function createDistributor(options: DistributorOptions): Distribute {
  return async (ctx, extra) => {
    const peers = await options.peers();
    const query = ctx.querystring
      .split('&')
      .filter((p) => p !== '' && !/^distribute=/i.test(p))
      .concat('distribute=false')
      .join('&');
    const headers: Record<string, string> = {};
    for (const name of FORWARDED) {
      const value = ctx.get(name);
      if (value !== '') headers[name] = value;
    }
    headers['x-change-id'] = ctx.state.changeId;
    if (extra.stamp !== undefined) headers['x-flow-stamp'] = String(extra.stamp);
    const outcomes = await fanOut(
      peers,
      async (peer) => {
        const res = await peerRequest(peer, {
          method: ctx.method,
          path: `${ctx.path}?${query}`,
          headers,
          ...(extra.body !== undefined && { body: extra.body }),
          timeoutMs: options.timeoutMs,
        });
        let message: string | undefined;
        try {
          message = (JSON.parse(res.body) as { Message?: string }).Message;
        } catch {
          message = undefined;
        }
        return { status: res.status, ...(message && { message }) };
      },
      options.policy,
    );
    for (const o of outcomes) options.onOutcome?.(o);
    ctx.state.log.info({ peers: outcomes.map((o) => ({ peer: o.Peer, status: o.Status, attempts: o.Attempts })) }, 'distributed');
    return outcomes;
  };
}

/** Adds the fan-out outcome to a docker-flow-proxy response body. */
export function withPeers(body: Record<string, unknown>, outcomes: PeerOutcome[]): Record<string, unknown> {
  const failed = outcomes.filter((o) => o.Status === 'failed').length;
  const message = outcomes.length === 0
    // docker-flow-proxy's words first: listener users grep their logs for them.
    ? 'Distributed to all instances (this is the only one: no PEERS or PEER_DISCOVERY is set).'
    : failed === 0
      ? 'Distributed to all instances'
      : `Distributed; ${failed} of ${outcomes.length} peers failed and will catch up through anti-entropy.`;
  return { ...body, Message: body.Message ? `${String(body.Message)} ${message}` : message, Peers: outcomes };
}
