import fs from 'node:fs';
import net from 'node:net';

/**
 * Who holds the TCP ports flow-proxy is about to listen on. HAProxy binds
 * with SO_REUSEPORT, so a second flow-proxy on the same ports started
 * without an error and the kernel split the traffic between the two. Each
 * port is tried without SO_REUSEPORT first; for one that is taken, the
 * listening processes are found through /proc.
 */
export interface PortUse {
  port: number;
  /** What the port is for, as the settings name it (DEFAULT_PORTS, PORT, ...). */
  purpose: string;
  address: string;
}

export interface PortHolder extends PortUse {
  pids: number[];
  /** Each holder's command line, shortened. */
  commands: string[];
}

/** The ports of `uses` that another process listens on; pids in `own` (the HAProxy being adopted) do not count. */
export async function heldPorts(uses: readonly PortUse[], own: ReadonlySet<number>): Promise<PortHolder[]> {
  const held: PortHolder[] = [];
  for (const use of uses) {
    if (use.port === 0 || (await bindable(use))) continue;
    const pids = listeningPids(use.port);
    if (pids.length > 0 && pids.every((pid) => own.has(pid))) continue;
    held.push({ ...use, pids: pids.filter((p) => !own.has(p)), commands: pids.filter((p) => !own.has(p)).map(commandOf) });
  }
  return held;
}

/** A sentence per port: which port, for what, and which process holds it. */
export function describeHeld(held: readonly PortHolder[]): string {
  return held.map((h) => {
    const who = h.pids.length > 0 ? h.pids.map((pid, i) => `process ${pid} (${h.commands[i]})`).join(', ') : 'another process (not visible from here)';
    return `port ${h.port} (${h.purpose}) is already in use by ${who}`;
  }).join('; ');
}

function bindable(use: PortUse): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ port: use.port, host: use.address === '*' ? '0.0.0.0' : use.address.replace(/^\[|\]$/g, ''), exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Processes with a socket listening on this port (any address), from /proc. */
export function listeningPids(port: number): number[] {
  const inodes = new Set<string>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      const local = cols[1]?.split(':')[1];
      if (cols[3] === '0A' && local !== undefined && parseInt(local, 16) === port && cols[9] !== undefined) inodes.add(cols[9]);
    }
  }
  if (inodes.size === 0) return [];
  const pids: number[] = [];
  for (const entry of safeReaddir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    for (const fd of safeReaddir(`/proc/${entry}/fd`)) {
      let target = '';
      try {
        target = fs.readlinkSync(`/proc/${entry}/fd/${fd}`);
      } catch {
        continue;
      }
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (m && inodes.has(m[1] as string)) {
        pids.push(Number(entry));
        break;
      }
    }
  }
  return pids;
}

/** The pids of a process and its children (a HAProxy master and its workers). */
export function processTree(pid: number): Set<number> {
  const tree = new Set<number>([pid]);
  for (const entry of safeReaddir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) tree.add(Number(entry));
    } catch {
      // gone
    }
  }
  return tree;
}

function commandOf(pid: number): string {
  try {
    const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((s) => s !== '').join(' ');
    return cmd.length > 120 ? `${cmd.slice(0, 120)}…` : cmd;
  } catch {
    return 'unknown';
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}
