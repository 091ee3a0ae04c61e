import dns from 'node:dns/promises';
import os from 'node:os';
import { formatAddress } from '../../domain/values.js';

/**
 * Where the other replicas are: a static list (`host:port`), or a DNS name
 * whose A records are the replicas (`dns:tasks.proxy:8080`, what Swarm
 * provides). The instance itself is left out, by address and port.
 */
export type PeerSource = () => Promise<string[]>;

export interface PeerSpec {
  kind: 'static' | 'dns';
  host: string;
  port: number;
}

export function parsePeers(text: string, defaultPort: number): PeerSpec[] | string {
  const specs: PeerSpec[] = [];
  for (const raw of text.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const dnsEntry = /^dns:([A-Za-z0-9._-]+)(?::(\d{1,5}))?$/.exec(raw);
    const staticEntry = /^([A-Za-z0-9._-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/.exec(raw);
    if (dnsEntry) specs.push({ kind: 'dns', host: dnsEntry[1] as string, port: Number(dnsEntry[2] ?? defaultPort) });
    else if (staticEntry) specs.push({ kind: 'static', host: (staticEntry[1] as string).replace(/^\[|\]$/g, ''), port: Number(staticEntry[2]) });
    else return `"${raw}" is neither host:port nor dns:name[:port]`;
  }
  return specs;
}

/** Addresses this machine answers on (loopback included). */
export function localAddresses(): Set<string> {
  const set = new Set(['127.0.0.1', '::1', 'localhost']);
  for (const list of Object.values(os.networkInterfaces())) for (const i of list ?? []) set.add(i.address);
  return set;
}

export function peerSource(specs: readonly PeerSpec[], selfPort: number, self: () => Set<string> = localAddresses): PeerSource {
  return async () => {
    const mine = self();
    const peers = new Set<string>();
    for (const spec of specs) {
      const hosts = spec.kind === 'dns' ? await dns.resolve4(spec.host).catch(() => [] as string[]) : [spec.host];
      for (const host of hosts) {
        if (spec.port === selfPort && mine.has(host)) continue;
        peers.add(formatAddress(host, spec.port));
      }
    }
    return [...peers].sort();
  };
}
