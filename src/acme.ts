import path from 'node:path';
import { AcmeMetrics } from './adapters/acme/acmeMetrics.js';
import { ConsulShared } from './adapters/acme/consulShared.js';
import { FileAcmeStore } from './adapters/acme/fileAcmeStore.js';
import { HaproxyAcme } from './adapters/acme/haproxyAcme.js';
import { PeerShared } from './adapters/acme/peerShared.js';
import { soloShared } from './adapters/acme/soloShared.js';
import type { Registry } from 'prom-client';
import { peerSource } from './adapters/peers/peerList.js';
import { ConsulKv } from './adapters/store/consulKv.js';
import { AcmeManager, type WantedDomain } from './core/acme/acmeManager.js';
import type { AcmeShared } from './core/acme/acmePorts.js';
import type { Log } from './core/log.js';
import type { Entry } from './domain/registry.js';
import type { Settings } from './settings.js';

/** Where ACME keeps its files under DATA_DIR. */
export function acmeLayout(dataDir: string) {
  const dir = path.join(dataDir, 'acme');
  return { dir, certDir: path.join(dir, 'certs'), challengeMap: path.join(dir, 'challenges.map') };
}

export interface Acme {
  manager: AcmeManager;
  /** Set when replicas share ACME through peers (the /acme endpoints take their pushes). */
  peers?: PeerShared;
  shared: AcmeShared;
}

export interface AcmeDeps {
  settings: Settings;
  adminSocket: string;
  crtList: string;
  /** The registry's live entries and the quarantined names: what asks for certificates. */
  entries: () => Iterable<Entry>;
  quarantined: () => ReadonlySet<string>;
  writeCrtList: () => void;
  uploaded: () => Array<{ name: string; notAfter: string }>;
  registry: Registry;
  log: Log;
}

/** Every name a live service asks a certificate for, with the services and the account e-mail. */
export function wantedDomains(entries: Iterable<Entry>, quarantined: ReadonlySet<string>, defaultEmail: string): Map<string, WantedDomain> {
  const wanted = new Map<string, WantedDomain>();
  const sorted = [...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of sorted) {
    if (quarantined.has(e.name) || !e.spec.acme) continue;
    for (const domain of e.spec.acme.domains) {
      const w = wanted.get(domain);
      if (w) w.services.push(e.name);
      else wanted.set(domain, { email: e.spec.acme.email ?? defaultEmail, services: [e.name] });
    }
  }
  return wanted;
}

/**
 * Wires automatic HTTPS from the settings: the CA client, HAProxy's runtime
 * side, the local copy and how replicas share. The ACME protocol library is
 * loaded only when ACME is on (it adds ~0.3 s to every start otherwise).
 */
export async function setupAcme(deps: AcmeDeps): Promise<Acme | undefined> {
  const { settings, log } = deps;
  const acme = settings.acme;
  if (!acme) return undefined;
  const { AcmeCa } = await import('./adapters/acme/acmeCa.js');
  const layout = acmeLayout(settings.dataDir);
  const alog = log.child({ component: 'acme' });
  let peers: PeerShared | undefined;
  let shared: AcmeShared = soloShared;
  let manager: AcmeManager | undefined;
  if (settings.consul) {
    shared = new ConsulShared({ kv: new ConsulKv({ address: settings.consul.address, ...(settings.consul.token !== undefined && { token: settings.consul.token }) }), prefix: settings.consul.prefix, log: alog });
  } else if (settings.peers.length > 0) {
    peers = new PeerShared({
      dir: layout.dir,
      peers: peerSource(settings.peers, settings.port),
      apiToken: settings.apiToken as string,
      timeoutMs: settings.peerTimeoutMs,
      intervalMs: Math.min(settings.antiEntropyMs || 5000, 5000),
      view: () => (manager as AcmeManager).snapshot(false),
      log: alog,
    });
    shared = peers;
  }
  manager = new AcmeManager({
    defaultEmail: acme.email,
    retry: { baseMs: acme.retryBaseMs, capMs: acme.retryMaxMs },
    ca: new AcmeCa({ directory: acme.directory, ...(acme.caPem !== undefined && { caPem: acme.caPem }) }),
    dataPlane: new HaproxyAcme({ adminSocket: deps.adminSocket, crtList: deps.crtList, challengeMap: layout.challengeMap, log: alog }),
    local: new FileAcmeStore(layout.dir, alog),
    shared,
    certDir: layout.certDir,
    writeCrtList: deps.writeCrtList,
    wanted: () => wantedDomains(deps.entries(), deps.quarantined(), acme.email),
    metrics: new AcmeMetrics(deps.registry),
    uploaded: deps.uploaded,
    log: alog,
  });
  return { manager, shared, ...(peers && { peers }) };
}
