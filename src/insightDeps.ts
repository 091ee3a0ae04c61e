import path from 'node:path';
import type { CertStore } from './adapters/certs/certStore.js';
import type { DiscoveryStatus } from './adapters/docker/discoveryStatus.js';
import { checkAside } from './adapters/haproxy/checkAside.js';
import type { HaproxyDataPlane } from './adapters/haproxy/dataPlane.js';
import { peerRequest } from './adapters/peers/client.js';
import { peerSource } from './adapters/peers/peerList.js';
import type { Reconciler } from './core/reconcile/reconciler.js';
import type { ParseContext } from './domain/parse.js';
import type { InsightDeps } from './http/insight.js';
import { peerStatus } from './http/peerStatus.js';
import type { Replication } from './replicas.js';
import type { Settings } from './settings.js';

export interface InsightSources {
  settings: Settings;
  engine: Reconciler;
  dataPlane: HaproxyDataPlane;
  certs: CertStore;
  parseContext: ParseContext;
  discovery?: { status(): DiscoveryStatus };
  replication: Pick<Replication, 'view'>;
  ready: () => boolean;
}

/** Wires the dry runs, /explain and the dashboard to the proxy's parts (composition root only). */
export function insightDeps(s: InsightSources): InsightDeps {
  const { settings } = s;
  const peers = peerSource(settings.peers, settings.port);
  const auth: Record<string, string> = settings.apiToken !== undefined ? { Authorization: `Bearer ${settings.apiToken}` } : {};
  return {
    dryRun: {
      engine: s.engine,
      parseContext: s.parseContext,
      ...(settings.filterProxyInstanceName && { instanceFilter: settings.proxyInstanceName }),
      check: checkAside(settings.haproxyBin, path.join(settings.dataDir, 'haproxy', 'dry-run')),
      mapDir: s.dataPlane.files.mapDir,
      // With CRT_LIST_PATH the operator's crt-list decides TLS, not the certificates flow-proxy stores.
      ...(settings.crtListPath === undefined && { certs: s.certs }),
    },
    explain: { engine: s.engine, routeOrder: settings.routeOrder },
    dashboard: {
      engine: s.engine,
      routeOrder: settings.routeOrder,
      stats: () => s.dataPlane.stats(),
      peers: peerStatus({
        peers,
        localDigest: () => s.replication.view(false, false).Digest,
        fetchDigest: async (peer) => {
          const res = await peerRequest(peer, { method: 'GET', path: '/v1/docker-flow-proxy/replica', headers: auth, timeoutMs: Math.min(settings.peerTimeoutMs, 1500) });
          if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
          return (JSON.parse(res.body) as { Digest: string }).Digest;
        },
        ttlMs: 2000,
      }),
      self: () => {
        const v = s.replication.view(false, false);
        return { Instance: v.Instance, Digest: v.Digest };
      },
      ready: s.ready,
      discovery: settings.discovery,
    },
  };
}
