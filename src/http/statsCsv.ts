/** One server row of HAProxy's `show stat`. */
export interface ServerStat {
  backend: string;
  server: string;
  /** UP, DOWN, MAINT, DRAIN, NOLB, "no check", … (UP 1/3 while a check goes up). */
  status: string;
  /** Last health check result (L4OK, L7OK, L4CON, …); empty without checks. */
  check: string;
  /** Seconds since the last status change. */
  lastChange?: number;
  /** Current sessions. */
  sessions?: number;
  address?: string;
}

/**
 * Parses `show stat` CSV (a `# pxname,svname,…` header, one row per proxy
 * and server) into server rows by backend; FRONTEND and BACKEND rows are
 * left out.
 */
export function parseServerStats(csv: string): Map<string, Map<string, ServerStat>> {
  const out = new Map<string, Map<string, ServerStat>>();
  const lines = csv.split('\n');
  const header = lines.find((l) => l.startsWith('# '));
  if (!header) return out;
  const columns = header.slice(2).split(',');
  const col = (name: string) => columns.indexOf(name);
  const [px, sv, status, check, lastchg, scur, addr] = ['pxname', 'svname', 'status', 'check_status', 'lastchg', 'scur', 'addr'].map(col) as number[];
  for (const line of lines) {
    if (line === '' || line.startsWith('#')) continue;
    const f = line.split(',');
    const backend = f[px as number];
    const server = f[sv as number];
    if (!backend || !server || server === 'FRONTEND' || server === 'BACKEND') continue;
    const num = (i: number) => (i >= 0 && f[i] !== undefined && f[i] !== '' ? Number(f[i]) : undefined);
    const row: ServerStat = { backend, server, status: f[status as number] ?? '', check: (check as number) >= 0 ? f[check as number] ?? '' : '' };
    const last = num(lastchg as number);
    if (last !== undefined) row.lastChange = last;
    const sessions = num(scur as number);
    if (sessions !== undefined) row.sessions = sessions;
    if ((addr as number) >= 0 && f[addr as number]) row.address = f[addr as number] as string;
    const byServer = out.get(backend) ?? new Map<string, ServerStat>();
    byServer.set(server, row);
    out.set(backend, byServer);
  }
  return out;
}
