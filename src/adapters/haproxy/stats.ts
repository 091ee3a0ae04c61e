/** A server's health as HAProxy reports it (`show stat`). */
export interface ServerHealth {
  /** UP, DOWN, MAINT, DRAIN, NOLB, "no check", or "UP 1/2" while a check changes its mind. */
  status: string;
  /** The last check's result (L4OK, L4CON, L7OK, L7STS, ...), empty without checks. */
  check: string;
}

/** `show stat` CSV to backend/server -> health. */
export function parseServerHealth(csv: string): Map<string, ServerHealth> {
  const lines = csv.split('\n');
  const header = (lines[0] ?? '').replace(/^#\s*/, '').split(',');
  const at = (name: string) => header.indexOf(name);
  const px = at('pxname');
  const sv = at('svname');
  const status = at('status');
  const check = at('check_status');
  const health = new Map<string, ServerHealth>();
  if (px < 0 || sv < 0 || status < 0) return health;
  for (const line of lines.slice(1)) {
    const f = line.split(',');
    const server = f[sv];
    if (server === undefined || server === 'FRONTEND' || server === 'BACKEND' || server === '') continue;
    health.set(`${f[px]}/${server}`, { status: f[status] ?? '', check: check >= 0 ? f[check] ?? '' : '' });
  }
  return health;
}
