import crypto from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Log } from '../log.js';
import type { Tombstone } from '../ports.js';

/** A replica's shareable state: API services with write times, removals, certificates. */
export interface ReplicaView {
  Instance: string;
  Digest: string;
  Services?: Array<{ params: Record<string, string>; stamp: number; redacted?: boolean }>;
  Removed?: Tombstone[];
  Certs?: Array<{ name: string; pem: string; stamp: number }>;
}

/** Equal digests mean equal replicated state (same services, versions, removals and certificates). */
export function replicaDigest(state: { services: Array<{ params: Record<string, string>; stamp: number }>; removed: Tombstone[] }, certs: Array<{ name: string; fingerprint: string }>): string {
  return crypto.createHash('sha256').update(JSON.stringify([state.services, state.removed, certs])).digest('hex');
}

export interface AntiEntropyDeps {
  peers: () => Promise<string[]>;
  /** GET a peer's view; with `full` its services, removals and certificates too. */
  fetch: (peer: string, full: boolean, signal: AbortSignal) => Promise<ReplicaView>;
  localDigest: () => string;
  /** Applies what a peer has that is newer here (last writer wins). */
  merge: (view: ReplicaView) => Promise<void>;
  intervalMs: number;
  timeoutMs: number;
  log: Log;
  onPeer?: (outcome: 'in-sync' | 'merged' | 'unreachable') => void;
}

/**
 * Anti-entropy: each replica regularly compares a digest of its replicated
 * state with every peer's and pulls what differs, so one that was down,
 * partitioned or just started catches up on its own. Merging is last writer
 * wins per service, so pulls in any order converge.
 */
export class AntiEntropy {
  private rounds = 0;

  constructor(private readonly deps: AntiEntropyDeps) {}

  get completedRounds(): number {
    return this.rounds;
  }

  /** One pass over every peer; resolves with how many peers had something to merge. */
  async round(signal: AbortSignal): Promise<number> {
    const peers = await this.deps.peers().catch(() => [] as string[]);
    const results = await Promise.all(peers.map((peer) => this.syncWith(peer, signal)));
    this.rounds++;
    return results.filter(Boolean).length;
  }

  private async syncWith(peer: string, signal: AbortSignal): Promise<boolean> {
    const timeout = AbortSignal.any([signal, AbortSignal.timeout(this.deps.timeoutMs)]);
    try {
      const summary = await this.deps.fetch(peer, false, timeout);
      if (summary.Digest === this.deps.localDigest()) {
        this.deps.onPeer?.('in-sync');
        return false;
      }
      const full = await this.deps.fetch(peer, true, timeout);
      await this.deps.merge(full);
      this.deps.onPeer?.('merged');
      this.deps.log.debug({ peer }, 'merged state from peer');
      return true;
    } catch (e) {
      this.deps.onPeer?.('unreachable');
      this.deps.log.debug({ peer, err: e instanceof Error ? e.message : String(e) }, 'peer unreachable for anti-entropy');
      return false;
    }
  }

  /** Runs rounds until the signal aborts. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await sleep(this.deps.intervalMs, undefined, { signal }).catch(() => undefined);
      if (signal.aborted) break;
      await this.round(signal).catch((e: unknown) => this.deps.log.warn({ err: e }, 'anti-entropy round failed'));
    }
  }
}
