import type { ServerAddr } from '../../domain/spec.js';
import { checkHost } from '../../domain/values.js';
import type { DockerContainer } from './labels.js';

/** Where an engine's host address came from: `address=` of its DOCKER_HOSTS entry, the tcp:// host, or the proxy's own host. */
export type AddressFrom = 'address' | 'tcp host' | 'local';

/** What the address rules need to know about the engine a container runs on. */
export interface EngineHost {
  name: string;
  /** The engine's host address: published ports and host-network containers are reached there. */
  address: string;
  addressFrom: AddressFrom;
  /** The proxy runs on this host (127.0.0.1): a container's own IPs and loopback-published ports are reachable. */
  local: boolean;
  /** This engine's reachable network (`network=` of its entry), which wins over DOCKER_NETWORK. */
  network?: string;
}

/** The rule that chose a server's address (see the README, "Several hosts without Swarm"). */
export type AddressRule = 'network' | 'host-network' | 'published' | 'container-ip';

/** A server's address, the rule that chose it, and that rule in words. */
export interface AddressChoice {
  server: ServerAddr;
  rule: AddressRule;
  why: string;
}

/** The shared network to look for, and who named it. */
export interface SharedNetwork {
  name: string;
  from: 'com.df.network' | 'network= of the engine' | 'DOCKER_NETWORK';
}

/** The proxy's own engine, as single-engine discovery always assumed. */
export const LOCAL_ENGINE: EngineHost = { name: 'local', address: '127.0.0.1', addressFrom: 'local', local: true };

/**
 * Where the proxy reaches a container that listens on `port` (undefined when
 * its destinations use several), first rule that applies:
 * 1. its IP on the shared network (`com.df.network`, else the engine's
 *    `network=`, else DOCKER_NETWORK);
 * 2. on the host network: the engine's address;
 * 3. `port` published: on all addresses, the engine's address and the
 *    published port; on one address, that address, unless it is a loopback
 *    address of another host;
 * 4. on a local engine only: its first network IP (another host's bridge
 *    addresses cannot be reached from here).
 * Addresses Docker reports are checked: nothing else reaches the config.
 */
export function chooseAddress(container: DockerContainer, port: number | undefined, shared: SharedNetwork | undefined, engine: EngineHost = LOCAL_ENGINE): AddressChoice | { reason: string } {
  const id = container.id;
  const on = engine === LOCAL_ENGINE ? '' : ` of engine "${engine.name}"`;
  const hostAddress = engine.local && engine.addressFrom === 'local' ? `${engine.address} (the proxy's own host)` : `${engine.address} (the engine's address, from ${engine.addressFrom === 'address' ? 'address= of its entry' : engine.addressFrom === 'tcp host' ? 'its tcp:// host' : "the proxy's own host"})`;
  if (shared !== undefined) {
    // Compose and stacks prefix network names with the project: `edge` is also `<project>_edge`.
    const net = container.networks.find((n) => n.name === shared.name && n.ip !== '') ?? container.networks.find((n) => n.name.endsWith(`_${shared.name}`) && n.ip !== '');
    if (net) return checked({ host: net.ip, id }, 'network', `its IP on network "${net.name}" (${shared.from})`);
  }
  if (container.networkMode === 'host') return checked({ host: engine.address, id }, 'host-network', `it uses the host network${on}: ${hostAddress}`);
  const unreachable: string[] = [];
  if (port !== undefined) {
    const published = container.ports
      .filter((p) => p.type === 'tcp' && p.privatePort === port && p.publicPort !== undefined)
      .sort((a, b) => (isIpv6(a.ip) ? 1 : 0) - (isIpv6(b.ip) ? 1 : 0));
    for (const p of published) {
      const everywhere = p.ip === undefined || p.ip === '' || p.ip === '0.0.0.0' || p.ip === '::';
      if (everywhere) return checked({ host: engine.address, port: p.publicPort as number, id }, 'published', `port ${port} is published on port ${p.publicPort}${on}: ${hostAddress}`);
      if (!engine.local && isLoopbackIp(p.ip as string)) {
        unreachable.push(`port ${port} is published on ${p.ip}:${p.publicPort} only, a loopback address of another host`);
        continue;
      }
      return checked({ host: p.ip as string, port: p.publicPort as number, id }, 'published', `port ${port} is published on ${p.ip}:${p.publicPort}${on}`);
    }
  }
  const first = [...container.networks].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).find((n) => n.ip !== '');
  if (first && engine.local) return checked({ host: first.ip, id }, 'container-ip', `its IP on network "${first.name}", its first network (no shared network, host network or published port)`);
  const where = shared !== undefined ? ` on network "${shared.name}"` : '';
  const why = [`network mode "${container.networkMode}"`, ...(unreachable.length > 0 ? unreachable : [port === undefined ? 'its service has several ports, so no single published port' : `port ${port} is not published`])];
  if (first) why.push(`its IP on "${first.name}" is on another host and not reachable from here (publish the port, use the host network, or name a network the proxy reaches with com.df.network or network= of the engine)`);
  else why.push('no network IP');
  return { reason: `it has no address the proxy can reach${where}${on} (${why.join(', ')})` };
}

/** An address Docker reported is used only when it is an IP or a host name. */
function checked(server: ServerAddr, rule: AddressRule, why: string): AddressChoice | { reason: string } {
  const host = server.host.replace(/^\[|\]$/g, '');
  if (checkHost(host.toLowerCase()) !== undefined) return { reason: `Docker reported the address "${host.slice(0, 60)}", which is not an IP address or host name` };
  return { server: { ...server, host }, rule, why };
}

function isIpv6(ip: string | undefined): boolean {
  return ip !== undefined && ip.includes(':');
}

function isLoopbackIp(ip: string): boolean {
  return /^127\./.test(ip) || ip === '::1';
}
