import path from 'node:path';
import { cliCommand } from '../../src/adapters/haproxy/cli.js';
import type { FlowProxy } from './flowProxy.js';

/** A server as HAProxy runs it (`show servers state`). */
interface LiveServer {
  addr: string;
  port: string;
  admin: number;
}

/** `server <name> <address>` lines of each backend and listen section of a rendered haproxy.cfg. */
export function configuredServers(config: string): Map<string, Map<string, string>> {
  const sections = new Map<string, Map<string, string>>();
  let current: Map<string, string> | undefined;
  for (const line of config.split('\n')) {
    const section = /^(backend|listen)\s+(\S+)/.exec(line);
    if (section) {
      current = new Map();
      sections.set(section[2] as string, current);
      continue;
    }
    if (/^\S/.test(line)) current = undefined;
    const server = /^\s+server\s+(\S+)\s+(\S+)/.exec(line);
    if (server && current) current.set(server[1] as string, server[2] as string);
  }
  return sections;
}

function liveServers(state: string): Map<string, Map<string, LiveServer>> {
  const lines = state.split('\n');
  const header = lines.find((l) => l.startsWith('# '))?.slice(2).split(' ') ?? [];
  const at = (name: string) => header.indexOf(name);
  const live = new Map<string, Map<string, LiveServer>>();
  for (const line of lines.slice(1)) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const f = line.trim().split(/\s+/);
    const backend = f[at('be_name')] as string;
    const servers = live.get(backend) ?? new Map<string, LiveServer>();
    servers.set(f[at('srv_name')] as string, { addr: f[at('srv_addr')] as string, port: f[at('srv_port')] as string, admin: Number(f[at('srv_admin_state')]) });
    live.set(backend, servers);
  }
  return live;
}

const FORCED_MAINT = 0x01;
const FORCED_DRAIN = 0x08;

/**
 * Differences between the desired state (the live haproxy.cfg flow-proxy
 * wrote for it) and what HAProxy runs: a configured server missing, left
 * in maintenance or drain, or at another address; a server HAProxy serves
 * that the config does not have (a pending delete must be in maintenance).
 */
export async function dataPlaneProblems(config: string, adminSocket: string): Promise<string[]> {
  const wanted = configuredServers(config);
  const live = liveServers(await cliCommand(adminSocket, 'show servers state', { timeoutMs: 5000 }));
  const problems: string[] = [];
  for (const [backend, servers] of wanted) {
    const running = live.get(backend) ?? new Map<string, LiveServer>();
    for (const [name, address] of servers) {
      const s = running.get(name);
      if (!s) {
        problems.push(`${backend}/${name} is configured but HAProxy does not run it`);
        continue;
      }
      if (s.admin & FORCED_MAINT) problems.push(`${backend}/${name} is configured to serve but is in maintenance`);
      if (s.admin & FORCED_DRAIN) problems.push(`${backend}/${name} is configured to serve but is draining`);
      const literal = /^(\d+\.\d+\.\d+\.\d+|\[[^\]]+\]):(\d+)$/.exec(address);
      if (literal && (literal[1]?.replace(/^\[|\]$/g, '') !== s.addr || literal[2] !== s.port)) {
        problems.push(`${backend}/${name} is configured at ${address} but HAProxy sends to ${s.addr}:${s.port}`);
      }
    }
    for (const [name, s] of running) {
      if (!servers.has(name) && !(s.admin & FORCED_MAINT)) problems.push(`${backend}/${name} serves but the config does not have it`);
    }
  }
  return problems;
}

/** The same check for a flow-proxy started by the test harness, through its API and admin socket. */
export async function proxyDataPlaneProblems(proxy: FlowProxy): Promise<string[]> {
  const config = (await proxy.api('config')).body;
  return dataPlaneProblems(config, path.join(proxy.dataDir, 'haproxy', 'run', 'admin.sock'));
}
