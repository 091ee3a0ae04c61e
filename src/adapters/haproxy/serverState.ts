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
  return carriedPieces(saved, configured).join('');
}

/** judge's answer for a line kept as HAProxy dumped it. */
const AS_DUMPED = true;

/**
 * carryOverServerState's text in pieces, to be written one after the other. The dump (10,000 lines
 * at 10,000 services) is read in place: each run of lines kept as dumped is one slice of it, and a
 * line gives strings only for the fields compared by value (its backend, server and weight). Split
 * into lines and joined again, it was a few MB of garbage at every reload.
 */
export function carriedPieces(saved: string, configured: ConfiguredServers): string[] {
  const firstEnd = lineEnd(saved, 0);
  if (saved.slice(0, firstEnd).trim() !== '1') return [EMPTY_STATE];
  const header = headerOf(saved, firstEnd + 1);
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
  if (Object.values(at).some((i) => i < 0)) return [EMPTY_STATE];
  const out = ['1\n', `# ${header.join(' ')}\n`];
  const ends = new Int32Array(header.length);
  let run = -1; // where the current run of lines kept as dumped starts
  for (let pos = firstEnd + 1; pos < saved.length; ) {
    const end = lineEnd(saved, pos);
    const verdict = judge(saved, pos, end, at, ends, configured);
    if (verdict === AS_DUMPED && end < saved.length) {
      if (run < 0) run = pos;
    } else {
      if (run >= 0) out.push(saved.slice(run, pos));
      run = -1;
      if (verdict === AS_DUMPED) out.push(`${saved.slice(pos, end)}\n`);
      else if (verdict !== undefined) out.push(`${verdict}\n`);
    }
    pos = end + 1;
  }
  if (run >= 0) out.push(saved.slice(run));
  return out;
}

type Columns = Record<'backend' | 'server' | 'addr' | 'admin' | 'uweight' | 'iweight' | 'port', number>;

/**
 * One line of the dump, `saved` from `start` to `end`: undefined to drop it, AS_DUMPED to keep it
 * as it is, or the line to write instead (its weight reset, or its spacing made single).
 */
function judge(saved: string, start: number, end: number, at: Columns, ends: Int32Array, configured: ConfiguredServers): string | typeof AS_DUMPED | undefined {
  if (saved.charCodeAt(start) === 0x23 /* # */ || isBlank(saved, start, end)) return undefined;
  if (fieldEnds(saved, start, end, ends)) return judgeFields(saved, start, end, at, ends, configured);
  // HAProxy separates the fields with one space; anything else is read the slow way.
  const line = saved.slice(start, end).trim().split(/\s+/).join(' ');
  if (!fieldEnds(line, 0, line.length, ends)) return undefined;
  const verdict = judgeFields(line, 0, line.length, at, ends, configured);
  return verdict === AS_DUMPED ? line : verdict;
}

/** judge, for a line whose fields `ends` holds. */
function judgeFields(saved: string, start: number, end: number, at: Columns, ends: Int32Array, configured: ConfiguredServers): string | typeof AS_DUMPED | undefined {
  const admin = adminState(saved, fieldStart(start, ends, at.admin), ends[at.admin] as number);
  if (admin === undefined || (admin & FORCED_ADMIN) !== 0) return undefined;
  const backend = saved.slice(fieldStart(start, ends, at.backend), ends[at.backend]);
  const server = configured.get(backend)?.get(saved.slice(fieldStart(start, ends, at.server), ends[at.server]));
  if (server && isLiteralAddress(server.host) && (!fieldIs(saved, start, ends, at.addr, bare(server.host)) || !fieldIs(saved, start, ends, at.port, String(server.port)))) return undefined;
  // A server that is no longer checked would keep a "down" it can never leave.
  if (server && server.checked === false) return undefined;
  const iweight = saved.slice(fieldStart(start, ends, at.iweight), ends[at.iweight]);
  if (fieldIs(saved, start, ends, at.uweight, iweight)) return AS_DUMPED;
  const f = saved.slice(start, end).split(' ');
  f[at.uweight] = iweight;
  return f.join(' ');
}

function fieldStart(lineStart: number, ends: Int32Array, i: number): number {
  return i === 0 ? lineStart : (ends[i - 1] as number) + 1;
}

/** Whether field `i` of the line is exactly `text`. */
function fieldIs(saved: string, lineStart: number, ends: Int32Array, i: number, text: string): boolean {
  const from = fieldStart(lineStart, ends, i);
  return (ends[i] as number) - from === text.length && saved.startsWith(text, from);
}

/** The admin state field as a number (Number() of the field: digits without a string made for most lines); undefined unless an integer. */
function adminState(saved: string, from: number, to: number): number | undefined {
  if (to - from === 1) {
    const d = saved.charCodeAt(from) - 0x30;
    if (d >= 0 && d <= 9) return d;
  }
  const n = Number(saved.slice(from, to));
  return Number.isInteger(n) ? n : undefined;
}

/** Where the line starting at `from` ends (its line break, or the end of the text). */
function lineEnd(text: string, from: number): number {
  const nl = text.indexOf('\n', from);
  return nl < 0 ? text.length : nl;
}

/** The column names of the first `# ` line from `from` on. */
function headerOf(saved: string, from: number): string[] {
  for (let pos = from; pos < saved.length; ) {
    const end = lineEnd(saved, pos);
    if (saved.startsWith('# ', pos)) return saved.slice(pos + 2, end).trim().split(/\s+/);
    pos = end + 1;
  }
  return [];
}

/** Whether the line is only white space (what trim() takes away); HAProxy's lines start with a digit. */
function isBlank(text: string, start: number, end: number): boolean {
  if (start === end) return true;
  const first = text.charCodeAt(start);
  if (first > 0x20 && first < 0x7f) return false;
  return text.slice(start, end).trim() === '';
}

/** Fills `ends` with where each space-separated field of text[start, end) ends; false unless it has exactly that many fields. */
function fieldEnds(text: string, start: number, end: number, ends: Int32Array): boolean {
  let from = start;
  for (let i = 0; i < ends.length - 1; i++) {
    const space = text.indexOf(' ', from);
    if (space < 0 || space >= end) return false;
    ends[i] = space;
    from = space + 1;
  }
  const extra = text.indexOf(' ', from);
  if (extra >= 0 && extra < end) return false;
  ends[ends.length - 1] = end;
  return true;
}

function bare(host: string): string {
  return host.replace(/^\[|\]$/g, '');
}

function isLiteralAddress(host: string): boolean {
  const h = bare(host);
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(h) || h.includes(':');
}
