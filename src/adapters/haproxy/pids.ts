import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** The pid a pid file holds, if it holds one. */
export function readPidFile(file: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 1 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** The process exists and is not a zombie. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !isZombie(pid);
  } catch {
    return false;
  }
}

function isZombie(pid: number): boolean {
  try {
    return /^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/** A live HAProxy process (a pid from an old pid file may belong to something else by now). */
export function isLiveHaproxy(pid: number): boolean {
  if (!alive(pid)) return false;
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('haproxy');
  } catch {
    return false;
  }
}

export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** Waits until none of `pids` is running any more; false if some still are after `timeoutMs`. */
export async function waitGone(pids: readonly number[], timeoutMs: number, running: (pid: number) => boolean = alive): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!pids.some(running)) return true;
    await sleep(20);
  }
  return !pids.some(running);
}

/** The sockets a process holds open (Linux: `socket:[inode]` links in /proc/<pid>/fd); undefined where it cannot be read. */
export function socketsOf(pid: number): Set<string> | undefined {
  const dir = `/proc/${pid}/fd`;
  let fds: string[];
  try {
    fds = fs.readdirSync(dir);
  } catch {
    return undefined;
  }
  const sockets = new Set<string>();
  for (const fd of fds) {
    try {
      const target = fs.readlinkSync(`${dir}/${fd}`);
      if (target.startsWith('socket:')) sockets.add(target);
    } catch {
      // closed meanwhile
    }
  }
  return sockets;
}
