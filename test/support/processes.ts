import fs from 'node:fs';

/** Live (not zombie) HAProxy processes started for one data directory: the master first, then workers. */
export function haproxyPids(dataDir: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmd.includes('haproxy') && cmd.includes(dataDir) && !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${entry}/status`, 'utf8'))) pids.push(Number(entry));
    } catch {
      // the process went away
    }
  }
  return pids.sort((a, b) => a - b);
}

/** HAProxy workers (old ones still finishing included) for one data directory. */
export function haproxyWorkers(dataDir: string): number {
  return Math.max(0, haproxyPids(dataDir).length - 1);
}
