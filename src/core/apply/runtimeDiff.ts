import type { BackendView, ServerView } from '../../render/backend.js';
import type { Layout } from '../../render/model.js';
import { LOOKUPS, type Lookup, type MapEntry } from '../../render/routes.js';

/** One change the HAProxy runtime API can make without a reload. */
export type RuntimeOp =
  /** ip: the address flow-proxy resolved (dynamic servers cannot use names); absent when the name did not resolve. */
  | { kind: 'addServer'; backend: string; server: string; host: string; ip?: string; port: number; options: string; check: boolean }
  | { kind: 'delServer'; backend: string; server: string }
  | { kind: 'moveServer'; backend: string; server: string; host: string; ip?: string; port: number }
  | { kind: 'setMap'; lookup: Lookup; key: string; value: string; exists: boolean }
  | { kind: 'delMap'; lookup: Lookup; key: string };

export interface LiveMaps {
  maps: Record<Lookup, MapEntry[]>;
}

/**
 * The runtime operations that turn the live maps and dynamic servers into
 * the next ones, ordered so that traffic never points at a missing server:
 * servers are added first, routes change next, old servers go last.
 */
export function runtimeDiff(live: { layout: Layout; maps: Record<Lookup, MapEntry[]> }, next: { layout: Layout; maps: Record<Lookup, MapEntry[]> }): RuntimeOp[] {
  const adds: RuntimeOp[] = [];
  const moves: RuntimeOp[] = [];
  const dels: RuntimeOp[] = [];
  for (const name of next.layout.order) {
    const after = next.layout.backends.get(name)?.view;
    const before = live.layout.backends.get(name)?.view;
    if (!after || !after.dynamic) continue;
    serverOps(name, before, after, adds, moves, dels);
  }
  const mapOps: RuntimeOp[] = [];
  const mapDels: RuntimeOp[] = [];
  for (const lookup of LOOKUPS) {
    const before = new Map(live.maps[lookup].map((e) => [e.key, e.backend]));
    const after = new Map(next.maps[lookup].map((e) => [e.key, e.backend]));
    for (const [key, value] of after) {
      const old = before.get(key);
      if (old !== value) mapOps.push({ kind: 'setMap', lookup, key, value, exists: old !== undefined });
    }
    for (const key of before.keys()) if (!after.has(key)) mapDels.push({ kind: 'delMap', lookup, key });
  }
  return orderOps(adds, moves, mapOps, mapDels, dels);
}

/** Servers are added first, routes change next, old servers go last: traffic never points at a missing server. */
export function orderOps(adds: RuntimeOp[], moves: RuntimeOp[], mapSets: RuntimeOp[], mapDels: RuntimeOp[], serverDels: RuntimeOp[]): RuntimeOp[] {
  return [...adds, ...moves, ...mapSets, ...mapDels, ...serverDels];
}

/** The server operations that turn one backend's dynamic servers into the next ones. */
export function serverOps(backend: string, before: BackendView | undefined, after: BackendView, adds: RuntimeOp[], moves: RuntimeOp[], dels: RuntimeOp[]): void {
  const old = new Map<string, ServerView>((before?.servers ?? []).map((s) => [s.name, s]));
  const check = / check\b/.test(after.serverOptions);
  for (const s of after.servers) {
    const prev = old.get(s.name);
    const ip = s.ip !== undefined ? { ip: s.ip } : {};
    if (!prev) adds.push({ kind: 'addServer', backend, server: s.name, host: s.host, ...ip, port: s.port, options: after.serverOptions, check });
    else if (prev.address !== s.address) moves.push({ kind: 'moveServer', backend, server: s.name, host: s.host, ...ip, port: s.port });
  }
  const keep = new Set(after.servers.map((s) => s.name));
  for (const name of old.keys()) if (!keep.has(name)) dels.push({ kind: 'delServer', backend, server: name });
}

/** Why a change needs no reload, in words for the apply record. */
export function describeOps(ops: readonly RuntimeOp[]): string {
  const count = (k: RuntimeOp['kind']) => ops.filter((o) => o.kind === k).length;
  const parts: Array<[number, string, string]> = [
    [count('addServer'), 'server', 'added'],
    [count('delServer'), 'server', 'removed'],
    [count('moveServer'), 'server', 'moved'],
    [count('setMap'), 'route', 'set'],
    [count('delMap'), 'route', 'removed'],
  ];
  const words = parts.filter(([n]) => n > 0).map(([n, noun, verb]) => `${n} ${noun}${n > 1 ? 's' : ''} ${verb}`);
  return words.length > 0 ? words.join(', ') : 'nothing to change';
}
