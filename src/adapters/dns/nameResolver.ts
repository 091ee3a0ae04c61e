import dns from 'node:dns/promises';
import net from 'node:net';

/**
 * Resolves the host names of servers for the renderer, so that HAProxy never
 * resolves a name through libc while it loads a config. HAProxy's start and
 * every reload block on those lookups, and glibc's parallel A and AAAA
 * queries lose an answer often enough on container networks (the well-known
 * conntrack race) that one reload in a few waited the resolver's 5 s
 * timeout. Here names are looked up one query at a time (A, then AAAA),
 * cached, refreshed in the background, and an apply waits for a name it has
 * never seen at most `budgetMs`: a late answer re-renders through
 * `onChange`.
 */
export interface NameResolverOptions {
  /** Looks one name up; undefined when it does not resolve. */
  lookup?: (host: string) => Promise<string | undefined>;
  /** How long an answer is used before it is looked up again (in the background). */
  ttlMs?: number;
  /** How long "does not resolve" is believed. */
  negativeTtlMs?: number;
  /** How long an apply waits for names not seen before. */
  budgetMs?: number;
  /** A name's address changed (or a late answer arrived) after it was handed out. */
  onChange?: (host: string) => void;
  now?: () => number;
}

interface Entry {
  address: string | undefined;
  at: number;
  pending?: Promise<string | undefined>;
}

export class NameResolver {
  private readonly cache = new Map<string, Entry>();
  private readonly lookup: (host: string) => Promise<string | undefined>;
  private readonly ttlMs: number;
  private readonly negativeTtlMs: number;
  private readonly budgetMs: number;
  private readonly now: () => number;
  private readonly onChange: (host: string) => void;

  constructor(options: NameResolverOptions = {}) {
    this.lookup = options.lookup ?? systemLookup;
    this.ttlMs = options.ttlMs ?? 30_000;
    this.negativeTtlMs = options.negativeTtlMs ?? 2_000;
    this.budgetMs = options.budgetMs ?? 200;
    this.now = options.now ?? (() => performance.now());
    this.onChange = options.onChange ?? (() => {});
  }

  /** Addresses of the given names (IP literals map to themselves); undefined for a name that does not resolve (yet). */
  async resolveAll(hosts: Iterable<string>): Promise<ReadonlyMap<string, string | undefined>> {
    const result = new Map<string, string | undefined>();
    const waiting: Array<Promise<void>> = [];
    for (const host of hosts) {
      if (result.has(host)) continue;
      const literal = literalAddress(host);
      if (literal !== undefined) {
        result.set(host, literal);
        continue;
      }
      const entry = this.cache.get(host);
      if (entry && !entry.pending && this.fresh(entry)) {
        result.set(host, entry.address);
        continue;
      }
      const pending = this.refresh(host);
      if (entry && entry.address !== undefined) {
        // A known name: its last address now, the new one (if it changed) through onChange.
        result.set(host, entry.address);
        continue;
      }
      result.set(host, undefined);
      waiting.push(pending.then((address) => void result.set(host, address)));
    }
    if (waiting.length > 0) await withBudget(Promise.all(waiting), this.budgetMs);
    for (const [host, address] of result) this.handedOut.set(host, address);
    return result;
  }

  /** What was last handed out for each name: a later answer that differs calls onChange. */
  private readonly handedOut = new Map<string, string | undefined>();

  private fresh(entry: Entry): boolean {
    return this.now() - entry.at < (entry.address === undefined ? this.negativeTtlMs : this.ttlMs);
  }

  private refresh(host: string): Promise<string | undefined> {
    const entry = this.cache.get(host);
    if (entry?.pending) return entry.pending;
    const pending = this.lookup(host).catch(() => undefined).then((address) => {
      this.cache.set(host, { address, at: this.now() });
      if (this.handedOut.has(host) && this.handedOut.get(host) !== address) {
        this.handedOut.set(host, address);
        this.onChange(host);
      }
      return address;
    });
    this.cache.set(host, { address: entry?.address, at: entry?.at ?? 0, pending });
    return pending;
  }
}

/** One A query (then one AAAA query), through the system's resolver (/etc/hosts, DNS). */
async function systemLookup(host: string): Promise<string | undefined> {
  for (const family of [4, 6] as const) {
    try {
      return (await dns.lookup(host, { family })).address;
    } catch {
      // try the other family
    }
  }
  return undefined;
}

function literalAddress(host: string): string | undefined {
  const bare = host.replace(/^\[|\]$/g, '');
  return net.isIP(bare) !== 0 ? bare : undefined;
}

async function withBudget(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
