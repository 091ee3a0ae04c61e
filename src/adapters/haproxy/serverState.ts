/**
 * What of HAProxy's saved server state (`show servers state`) a new worker
 * may load at a reload. HAProxy restores, by backend and server name, the
 * admin state (maintenance, drain), the weight and the address a server had
 * at run time. flow-proxy's runtime path leaves maintenance behind on
 * servers whose delete waits for their last connections, and a server of
 * the same name can be live again in the next config: restoring that state
 * would leave it unroutable. So only what HAProxy learnt by itself carries
 * over (health, addresses it resolved); what flow-proxy decides (which
 * servers serve, where, with which weight) always comes from the config.
 */

/** The servers the new config renders: backend -> server -> configured host and port, and whether it is checked. */
export type ConfiguredServers = ReadonlyMap<string, ReadonlyMap<string, { host: string; port: number; checked?: boolean }>>;

/** A valid dump with no server: HAProxy starts every server from its config. */
export const EMPTY_STATE = '1\n';

/** Forced admin states, set only through the runtime API (HAProxy's SRV_ADMF_FMAINT and SRV_ADMF_FDRAIN). */
const FORCED_ADMIN = 0x01 | 0x08;

/**
 * Filters a version-1 server state dump: lines of servers put in
 * maintenance or drain at run time are dropped (the new worker starts them
 * from the config), weights go back to the configured ones, and a server
 * the config places at another literal address than the saved one is
 * dropped too. Lines the filter cannot read are dropped, never guessed at;
 * a dump it cannot read at all gives an empty state.
 */
export function carryOverServerState(saved: string, configured: ConfiguredServers): string {
  const lines = saved.split('\n');
  if (lines[0]?.trim() !== '1') return EMPTY_STATE;
  const header = lines.find((l) => l.startsWith('# '))?.slice(2).trim().split(/\s+/) ?? [];
  const col = (name: string) => header.indexOf(name);
  const at = {
    backend: col('be_name'),
    server: col('srv_name'),
    addr: col('srv_addr'),
    admin: col('srv_admin_state'),
    uweight: col('srv_uweight'),
    iweight: col('srv_iweight'),
    port: col('srv_port'),
  };
  if (Object.values(at).some((i) => i < 0)) return EMPTY_STATE;
  const out = ['1', `# ${header.join(' ')}`];
  // Where each field ends (a line is kept as it is unless its weight changes: no split and join of 10,000 lines).
  const ends = new Int32Array(header.length);
  for (const raw of lines.slice(1)) {
    if (raw.startsWith('#') || raw.trim() === '') continue;
    // HAProxy separates the fields with one space; anything else is read the slow way.
    let line = raw;
    if (!fieldEnds(line, ends)) {
      line = raw.trim().split(/\s+/).join(' ');
      if (!fieldEnds(line, ends)) continue;
    }
    const field = (i: number) => line.slice(i === 0 ? 0 : (ends[i - 1] as number) + 1, ends[i]);
    const admin = Number(field(at.admin));
    if (!Number.isInteger(admin) || (admin & FORCED_ADMIN) !== 0) continue;
    const server = configured.get(field(at.backend))?.get(field(at.server));
    if (server && isLiteralAddress(server.host) && (bare(server.host) !== field(at.addr) || String(server.port) !== field(at.port))) continue;
    // A server that is no longer checked would keep a "down" it can never leave.
    if (server && server.checked === false) continue;
    if (field(at.uweight) === field(at.iweight)) {
      out.push(line);
      continue;
    }
    const f = line.split(' ');
    f[at.uweight] = f[at.iweight] as string;
    out.push(f.join(' '));
  }
  return `${out.join('\n')}\n`;
}

/** Fills `ends` with where each space-separated field of `line` ends; false unless it has exactly that many fields. */
function fieldEnds(line: string, ends: Int32Array): boolean {
  let from = 0;
  for (let i = 0; i < ends.length - 1; i++) {
    const space = line.indexOf(' ', from);
    if (space < 0) return false;
    ends[i] = space;
    from = space + 1;
  }
  if (line.indexOf(' ', from) >= 0) return false;
  ends[ends.length - 1] = line.length;
  return true;
}

function bare(host: string): string {
  return host.replace(/^\[|\]$/g, '');
}

function isLiteralAddress(host: string): boolean {
  const h = bare(host);
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(h) || h.includes(':');
}
