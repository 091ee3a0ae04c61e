import crypto from 'node:crypto';
import fs from 'node:fs';
import type { CertStore } from './adapters/certs/certStore.js';
import type { Metrics } from './adapters/metrics.js';
import { peerRequest } from './adapters/peers/client.js';
import { peerSource } from './adapters/peers/peerList.js';
import type { Reconciler } from './core/reconcile/reconciler.js';
import type { Log } from './core/log.js';
import { AntiEntropy, replicaDigest, type ReplicaView } from './core/sources/replication.js';
import { fromStored } from './core/desired/storedState.js';
import type { ParseContext } from './domain/parse.js';
import type { Entry } from './domain/registry.js';
import { createDistributor, type Distribute } from './http/distribute.js';
import type { Settings } from './settings.js';

export interface Replication {
  /** Fan-out for distribute=true (an empty peer list answers "applied here only"). */
  distribute: Distribute;
  view: (full: boolean, secrets: boolean) => ReplicaView;
  /** Pulls from every peer once (bounded); a new replica does this before it reports ready. */
  initialSync: () => Promise<void>;
  /** Background anti-entropy until the signal aborts. */
  run: (signal: AbortSignal) => void;
  readonly enabled: boolean;
}

export interface ReplicationDeps {
  settings: Settings;
  engine: Reconciler;
  certs: CertStore;
  parseContext: ParseContext;
  metrics: Metrics;
  log: Log;
  /** Writes the crt-list after certificates arrived from a peer. */
  certsChanged: () => void;
}

/** Wires fan-out and anti-entropy from PEERS / PEER_DISCOVERY; the local file store is the shared truth of none. */
export function setupReplication(deps: ReplicationDeps): Replication {
  const { settings, engine, certs, metrics, log } = deps;
  const instance = crypto.randomUUID();
  const peers = peerSource(settings.peers, settings.port);
  const auth: Record<string, string> = settings.apiToken !== undefined ? { Authorization: `Bearer ${settings.apiToken}` } : {};

  const certStamp = (file: string) => Math.trunc(fs.statSync(file).mtimeMs);
  const digest = () => replicaDigest(engine.replicaState(), certs.list().filter((c) => c.source === 'dir').map((c) => ({ name: c.name, fingerprint: c.fingerprint256 })));

  const view = (full: boolean, secrets: boolean): ReplicaView => {
    const base: ReplicaView = { Instance: instance, Digest: digest() };
    if (!full) return base;
    const state = engine.replicaState();
    return {
      ...base,
      Services: state.services.map((s) => {
        if (s.params.users === undefined || secrets) return s;
        const { users: _users, ...rest } = s.params;
        return { params: rest, stamp: s.stamp, redacted: true };
      }),
      Removed: state.removed,
      ...(secrets && {
        Certs: certs.list().filter((c) => c.source === 'dir').map((c) => ({ name: c.name, pem: fs.readFileSync(c.file, 'utf8'), stamp: certStamp(c.file) })),
      }),
    };
  };

  let warnedRedacted = false;
  const merge = async (remote: ReplicaView) => {
    const entries: Entry[] = [];
    for (const s of remote.Services ?? []) {
      if (s.redacted) {
        if (!warnedRedacted) log.warn({}, 'a peer holds services with passwords it will only share with the API token: set the same API_TOKEN on every replica');
        warnedRedacted = true;
        continue;
      }
      const parsed = fromStored({ owner: 'api', params: s.params, stamp: s.stamp }, deps.parseContext);
      if (parsed.ok) entries.push(parsed.entry);
      else log.warn({ service: s.params.serviceName }, 'a peer sent a service this replica cannot parse');
    }
    let certsUpdated = false;
    for (const c of remote.Certs ?? []) {
      const local = certs.list().find((x) => x.name === c.name && x.source === 'dir');
      if (local && certStamp(local.file) >= c.stamp) continue;
      try {
        const stored = certs.put(c.name, c.pem);
        fs.utimesSync(stored.file, new Date(), new Date(c.stamp));
        certsUpdated = true;
      } catch (e) {
        log.warn({ cert: c.name, err: e instanceof Error ? e.message : String(e) }, 'a peer sent an unusable certificate');
      }
    }
    if (certsUpdated) {
      deps.certsChanged();
      await engine.submit({ kind: 'refresh', reason: 'certificates from a peer' });
    }
    await engine.submit({ kind: 'merge', entries, removed: remote.Removed ?? [] }, `sync-${remote.Instance.slice(0, 8)}`);
  };

  const antiEntropy = new AntiEntropy({
    peers,
    fetch: async (peer, full, signal) => {
      const res = await peerRequest(peer, { method: 'GET', path: `/v1/docker-flow-proxy/replica${full ? '?state=true' : ''}`, headers: auth, timeoutMs: settings.peerTimeoutMs, signal });
      if (res.status !== 200) throw new Error(`peer ${peer} answered ${res.status}`);
      return JSON.parse(res.body) as ReplicaView;
    },
    localDigest: digest,
    merge,
    intervalMs: settings.antiEntropyMs,
    timeoutMs: settings.peerTimeoutMs,
    log,
    onPeer: (outcome) => metrics.peerRequests.inc({ kind: 'anti-entropy', outcome }),
  });

  const enabled = settings.peers.length > 0;
  return {
    enabled,
    view,
    distribute: createDistributor({
      peers,
      policy: { attempts: settings.peerAttempts, baseDelayMs: 100, maxDelayMs: 2000 },
      timeoutMs: settings.peerTimeoutMs,
      onOutcome: (o) => metrics.peerRequests.inc({ kind: 'fanout', outcome: o.Status }),
    }),
    initialSync: async () => {
      if (!enabled) return;
      const merged = await antiEntropy.round(AbortSignal.timeout(settings.peerTimeoutMs * 2));
      log.info({ merged }, 'initial sync with peers done');
    },
    run: (signal) => {
      if (enabled && settings.antiEntropyMs > 0) void antiEntropy.run(signal);
    },
  };
}
