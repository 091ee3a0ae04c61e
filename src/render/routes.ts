// Long on purpose: docker-flow-proxy's route order and HAProxy's map semantics are one algorithm; the pieces only make sense together.
import { cmp } from '../domain/values.js';

/**
 * Route planning: turns HTTP destinations into map entries and rules while
 * keeping docker-flow-proxy's evaluation order (.well-known first, root last,
 * more specific before less specific, then aclName). Map lookups cost the
 * same for the first and the ten-thousandth route and can change at run time;
 * rules are kept for routes that need extra conditions and are placed between
 * map lookups so that the first match is the one the ordered list would pick.
 */

export type HostMatch =
  | { kind: 'any' }
  | { kind: 'exact'; hosts: string[] }
  | { kind: 'wildcard'; suffix: string }
  | { kind: 'algo'; algo: string; patterns: string[] };

export type PathMatch =
  | { kind: 'prefix'; paths: string[] }
  | { kind: 'exact'; paths: string[] }
  | { kind: 'other'; fetch: string; patterns: string[] };

/** One HTTP route of one destination, before placement. */
export interface RouteInput {
  owner: string;
  aclName: string;
  destIndex: number;
  /** Several routes of one destination (https split, host kinds) keep this order. */
  part: number;
  backend: string;
  host: HostMatch;
  path: PathMatch;
  /** Extra ANDed conditions, already rendered (`{ dst_port 80 }`, `!{ path_beg '/x' }`). */
  conditions: string[];
}

/** The map lookups, in the order the frontend consults them. */
export const LOOKUPS = ['hostPathExact', 'hostPathPrefix', 'pathExact', 'pathPrefix', 'hostRoot', 'pathRoot'] as const;
export type Lookup = (typeof LOOKUPS)[number];

export interface MapEntry {
  key: string;
  backend: string;
  owner: string;
}

export interface RuleView {
  backend: string;
  owner: string;
  /** The route this rule was made from (after splitting), for explanations and tests. */
  route: RouteInput;
  /** Rendered condition, ANDed after "not routed yet". */
  condition: string;
}

/** What the frontend does, step by step: a map lookup or a run of rules. */
export type RoutingStep = { kind: 'map'; lookup: Lookup } | { kind: 'rule'; rule: RuleView };

/** A route no request can reach because an identical route of another service comes first. */
export interface ShadowedRoute {
  /** The service whose route lost. */
  owner: string;
  /** The service that takes those requests. */
  by: string;
  /** The route, in words: `host/path`, `/path`, or the rule's condition. */
  route: string;
}

export interface RoutingPlan {
  steps: RoutingStep[];
  maps: Record<Lookup, MapEntry[]>;
  shadowed: ShadowedRoute[];
}

export type RouteOrder = 'specific' | 'acl';

interface Candidate {
  input: RouteInput;
  tier: number;
  hostRank: number;
  pathRank: number;
  length: number;
  conditional: boolean;
  seq: number;
  /** Nothing but one host (or none) and one literal path: it can live in a map. */
  mappable: boolean;
}

interface Entry {
  lookup: Lookup;
  segment: number;
  key: string;
  candidate: Candidate;
  rank: number;
}

const WELL_KNOWN = /^\/\.well-known/i;

/** Places routes; the result routes every request to the backend the ordered route list would pick. */
export function planRoutes(inputs: readonly RouteInput[], order: RouteOrder): RoutingPlan {
  const candidates = orderCandidates(inputs, order);
  const entries: Entry[] = [];
  const rules: Array<{ c: Candidate; rank: number }> = [];
  const keyOwners = new Map<string, string>();
  const ruleOwners = new Map<string, string>();
  const shadowed: ShadowedRoute[] = [];
  const lost = (owner: string, by: string | undefined, route: string) => {
    if (by !== undefined && by !== owner && !shadowed.some((x) => x.owner === owner && x.by === by && x.route === route)) shadowed.push({ owner, by, route });
  };
  candidates.forEach((c, rank) => {
    if (!c.mappable || c.tier === 0) {
      // An identical rule of another service earlier in the order takes every request this one would.
      const signature = JSON.stringify([c.input.host, c.input.path, [...c.input.conditions].sort()]);
      lost(c.input.owner, ruleOwners.get(signature), ruleView(c.input).condition);
      if (!ruleOwners.has(signature)) ruleOwners.set(signature, c.input.owner);
      rules.push({ c, rank });
      return;
    }
    const e = entry(c, rank);
    const id = `${e.lookup}\u0000${e.key}`;
    const holder = keyOwners.get(id);
    if (holder !== undefined) {
      // An earlier route owns this exact key: the later one can never match.
      lost(c.input.owner, holder, e.key);
      return;
    }
    keyOwners.set(id, c.input.owner);
    entries.push(e);
  });
  const placed = place(entries, rules);
  return { ...assemble(placed.entries, placed.rules), shadowed };
}

/**
 * The map entries a route takes when the plan places it by its key alone
 * (the default order, no extra condition, not a .well-known path); undefined
 * when it needs a rule. Whether an entry of another service holds the same
 * key, or a rule overlaps it, is for the caller to check.
 */
export function mapKeysOf(input: RouteInput, order: RouteOrder): Array<{ lookup: Lookup; key: string }> | undefined {
  if (order !== 'specific' || !simple(input)) return undefined;
  const keys: Array<{ lookup: Lookup; key: string }> = [];
  for (const single of split(input)) {
    const c = classify(single, 0, true);
    if (c.tier === 0) return undefined;
    const e = entry(c, 0);
    keys.push({ lookup: e.lookup, key: e.key });
  }
  return keys;
}

/** The desired evaluation order: the first route in this list that matches a request must win. */
export function orderRoutes(inputs: readonly RouteInput[], order: RouteOrder): RouteInput[] {
  return orderCandidates(inputs, order).map((c) => c.input);
}

function orderCandidates(inputs: readonly RouteInput[], order: RouteOrder): Candidate[] {
  const candidates: Candidate[] = [];
  for (const input of inputs) {
    if (order === 'specific' && simple(input)) {
      for (const single of split(input)) candidates.push(classify(single, candidates.length, true));
    } else {
      candidates.push(classify(input, candidates.length, false));
    }
  }
  if (order === 'acl') applyServiceTiers(candidates);
  candidates.sort(order === 'acl' ? compareAcl : compareSpecific);
  return candidates;
}

function simple(input: RouteInput): boolean {
  return input.conditions.length === 0 && (input.host.kind === 'any' || input.host.kind === 'exact') && input.path.kind !== 'other';
}

/** One route per host and path, so each is ordered by its own specificity. */
function split(input: RouteInput): readonly RouteInput[] {
  const hosts: Array<string | undefined> = input.host.kind === 'exact' ? input.host.hosts : [undefined];
  const path = input.path as { kind: 'prefix' | 'exact'; paths: string[] };
  // Most routes are one host (or none) and one path already: the route itself.
  if (hosts.length === 1 && path.paths.length === 1) return [input];
  const result: RouteInput[] = [];
  for (const h of hosts) {
    for (const p of path.paths) {
      result.push({ ...input, host: h === undefined ? { kind: 'any' } : { kind: 'exact', hosts: [h] }, path: { kind: path.kind, paths: [p] } });
    }
  }
  return result;
}

function classify(input: RouteInput, seq: number, mappable: boolean): Candidate {
  const paths = input.path.kind === 'other' ? input.path.patterns : input.path.paths;
  const tier = paths.some((p) => WELL_KNOWN.test(p)) ? 0 : input.path.kind === 'prefix' && paths.includes('/') ? 2 : 1;
  const hostRank = input.host.kind === 'exact' ? 0 : input.host.kind === 'wildcard' ? 1 : input.host.kind === 'algo' ? 2 : 3;
  const pathRank = input.path.kind === 'exact' ? 0 : input.path.kind === 'prefix' ? 1 : 2;
  let length = 0;
  for (const p of paths) length = Math.max(length, p.length);
  return { input, tier, hostRank, pathRank, length, conditional: input.conditions.length > 0, seq, mappable };
}

/** docker-flow-proxy orders whole services: one .well-known path puts it first, one root path last. */
function applyServiceTiers(candidates: Candidate[]): void {
  const tiers = new Map<string, number>();
  for (const c of candidates) {
    const t = tiers.get(c.input.owner);
    const next = t === undefined ? c.tier : t === 0 || c.tier === 0 ? 0 : Math.max(t, c.tier);
    tiers.set(c.input.owner, next);
  }
  for (const c of candidates) c.tier = tiers.get(c.input.owner) as number;
}

function compareSpecific(a: Candidate, b: Candidate): number {
  return (
    a.tier - b.tier ||
    a.hostRank - b.hostRank ||
    wildcardLength(b) - wildcardLength(a) ||
    a.pathRank - b.pathRank ||
    b.length - a.length ||
    Number(b.conditional) - Number(a.conditional) ||
    compareAcl(a, b)
  );
}

function wildcardLength(c: Candidate): number {
  return c.input.host.kind === 'wildcard' ? c.input.host.suffix.length : 0;
}

/** docker-flow-proxy's order: .well-known first, root last, then aclName; destinations in index order. */
function compareAcl(a: Candidate, b: Candidate): number {
  return (
    a.tier - b.tier ||
    cmp(a.input.aclName, b.input.aclName) ||
    cmp(a.input.owner, b.input.owner) ||
    a.input.destIndex - b.input.destIndex ||
    a.input.part - b.input.part ||
    a.seq - b.seq
  );
}


function entry(c: Candidate, rank: number): Entry {
  const { host, path } = c.input;
  const h = host.kind === 'exact' ? (host.hosts[0] as string) : undefined;
  const p = (path as { paths: string[] }).paths[0] as string;
  const isRoot = path.kind === 'prefix' && p === '/';
  const lookup: Lookup = h === undefined
    ? isRoot ? 'pathRoot' : path.kind === 'exact' ? 'pathExact' : 'pathPrefix'
    : isRoot ? 'hostRoot' : path.kind === 'exact' ? 'hostPathExact' : 'hostPathPrefix';
  const key = lookup === 'hostRoot' ? (h as string) : h === undefined ? p : `${h}${p}`;
  return { lookup, segment: LOOKUPS.indexOf(lookup) + 1, key, candidate: c, rank };
}

interface PlacedRule {
  c: Candidate;
  rank: number;
  /** Rules in segment k run after map lookup k (k = 0: before every lookup). */
  segment: number;
}

/**
 * Puts every rule in the latest segment that still precedes the map entries
 * it must beat and follows the ones that must beat it. When no segment fits,
 * the map entries that must beat it become rules too, and placement restarts.
 */
function place(entries: Entry[], rules: Array<{ c: Candidate; rank: number }>): { entries: Entry[]; rules: PlacedRule[] } {
  let mapEntries = entries;
  let ruleList = [...rules];
  for (;;) {
    ruleList.sort((a, b) => a.rank - b.rank);
    const placed: PlacedRule[] = [];
    let demote: Set<Entry> | undefined;
    for (const r of ruleList) {
      let lo = 0;
      let hi = LOOKUPS.length + 1;
      const before: Entry[] = [];
      for (const e of mapEntries) {
        if (!overlaps(r.c.input.host, r.c.input.path, e.candidate.input.host, e.candidate.input.path)) continue;
        if (e.rank < r.rank) {
          lo = Math.max(lo, e.segment);
          before.push(e);
        } else {
          hi = Math.min(hi, e.segment);
        }
      }
      for (const p of placed) {
        if (p.rank < r.rank && overlaps(r.c.input.host, r.c.input.path, p.c.input.host, p.c.input.path)) lo = Math.max(lo, p.segment);
      }
      if (lo > hi - 1) {
        demote = new Set(before.filter((e) => e.segment >= hi));
        break;
      }
      placed.push({ ...r, segment: lo });
    }
    if (!demote) return { entries: mapEntries, rules: placed };
    const demotedCandidates = new Map<Candidate, number>();
    for (const e of demote) demotedCandidates.set(e.candidate, e.rank);
    mapEntries = mapEntries.filter((e) => !demotedCandidates.has(e.candidate));
    for (const [c, rank] of demotedCandidates) ruleList = [...ruleList, { c, rank }];
  }
}

function assemble(entries: Entry[], rules: PlacedRule[]): Omit<RoutingPlan, 'shadowed'> {
  const maps = Object.fromEntries(LOOKUPS.map((l) => [l, [] as MapEntry[]])) as Record<Lookup, MapEntry[]>;
  for (const e of entries) maps[e.lookup].push({ key: e.key, backend: e.candidate.input.backend, owner: e.candidate.input.owner });
  for (const l of LOOKUPS) maps[l].sort((a, b) => cmp(a.key, b.key));
  const steps: RoutingStep[] = [];
  const bySegment = (k: number) => rules.filter((r) => r.segment === k).sort((a, b) => a.rank - b.rank);
  for (let k = 0; k <= LOOKUPS.length; k++) {
    if (k > 0) {
      const lookup = LOOKUPS[k - 1] as Lookup;
      steps.push({ kind: 'map', lookup });
    }
    for (const r of bySegment(k)) steps.push({ kind: 'rule', rule: ruleView(r.c.input) });
  }
  return { steps, maps };
}

function ruleView(input: RouteInput): RuleView {
  const parts = [hostCondition(input.host), pathCondition(input.path), ...input.conditions].filter((p) => p !== '');
  return { backend: input.backend, owner: input.owner, route: input, condition: parts.join(' ') };
}

const q = (s: string) => `'${s}'`;

export function hostCondition(host: HostMatch): string {
  switch (host.kind) {
    case 'any':
      return '';
    case 'exact':
      return `{ var(txn.fp_host) -m str ${host.hosts.map(q).join(' ')} }`;
    case 'wildcard':
      return `{ var(txn.fp_host) -m end ${q(host.suffix)} }`;
    case 'algo':
      return `{ ${host.algo} -i ${host.patterns.map(q).join(' ')} }`;
  }
}

export function pathCondition(path: PathMatch): string {
  switch (path.kind) {
    case 'prefix':
      return `{ path_beg ${path.paths.map(q).join(' ')} }`;
    case 'exact':
      return `{ path ${path.paths.map(q).join(' ')} }`;
    case 'other':
      return `{ ${path.fetch} ${path.patterns.map(q).join(' ')} }`;
  }
}

/** Could one request match both routes? Conservative: unknown matchers overlap everything. */
export function overlaps(h1: HostMatch, p1: PathMatch, h2: HostMatch, p2: PathMatch): boolean {
  return hostsOverlap(h1, h2) && pathsOverlap(p1, p2);
}

function hostsOverlap(a: HostMatch, b: HostMatch): boolean {
  if (a.kind === 'any' || b.kind === 'any' || a.kind === 'algo' || b.kind === 'algo') return true;
  if (a.kind === 'exact' && b.kind === 'exact') return a.hosts.some((h) => b.hosts.includes(h));
  if (a.kind === 'wildcard' && b.kind === 'wildcard') return a.suffix.endsWith(b.suffix) || b.suffix.endsWith(a.suffix);
  const exact = (a.kind === 'exact' ? a : b) as { hosts: string[] };
  const wild = (a.kind === 'wildcard' ? a : b) as { suffix: string };
  return exact.hosts.some((h) => h.endsWith(wild.suffix));
}

function pathsOverlap(a: PathMatch, b: PathMatch): boolean {
  if (a.kind === 'other' || b.kind === 'other') return true;
  for (const x of a.paths) {
    for (const y of b.paths) {
      if (a.kind === 'exact' && b.kind === 'exact' ? x === y
        : a.kind === 'exact' ? x.startsWith(y)
        : b.kind === 'exact' ? y.startsWith(x)
        : x.startsWith(y) || y.startsWith(x)) return true;
    }
  }
  return false;
}
