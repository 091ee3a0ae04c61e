import fs from 'node:fs';

/** HAProxy's output file is emptied once it is this large and every line of it has been read. */
export const MAX_LOG_BYTES = 8 << 20;

export interface TailOptions {
  intervalMs?: number;
  /** Size from which the file is emptied after it has been read (HAProxy appends with O_APPEND, so it writes on at the new end). */
  maxBytes?: number;
}

/**
 * Follows HAProxy's output file (its master writes there, and with DEBUG its
 * workers log traffic to stdout too) and hands each new line to a callback,
 * with the per-proxy stop messages of an old worker collapsed into one line.
 * The file never grows past `maxBytes` plus what arrives between two reads.
 */
export function tailFile(file: string, onLine: (line: string) => void, signal: AbortSignal, options: TailOptions = {}): void {
  const maxBytes = options.maxBytes ?? MAX_LOG_BYTES;
  let offset = size(file);
  let partial = '';
  const timer = setInterval(() => {
    const now = size(file);
    if (now < offset) offset = 0;
    if (now === offset) return;
    const fd = fs.openSync(file, 'r');
    try {
      const buf = Buffer.alloc(Math.min(now - offset, 4 << 20));
      const read = fs.readSync(fd, buf, 0, buf.length, offset);
      offset += read;
      const lines = (partial + buf.subarray(0, read).toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of collapseStopLines(lines.filter((l) => l.trim() !== ''))) onLine(line);
      // Everything was read: start the file over. A line written between the size check and the truncation is lost;
      // that is the price of a bounded file (logrotate's copytruncate pays it too).
      if (offset >= maxBytes && partial === '' && size(file) === offset) {
        fs.truncateSync(file, 0);
        offset = 0;
      }
    } finally {
      fs.closeSync(fd);
    }
  }, options.intervalMs ?? 200);
  timer.unref();
  signal.addEventListener('abort', () => clearInterval(timer));
}

/** `[WARNING]  (pid) : Proxy <name> stopped (cumulated ...)`, with a context such as `CLI : ` when the reload came from the master CLI. */
const STOPPED = /^\[WARNING\]\s+\((\d+)\) : (?:[A-Za-z]+ : )?Proxy \S+ stopped \(cumulated conns: /;

/**
 * An old worker that finishes prints "Proxy <name> stopped" for every
 * frontend and backend: 10,000 lines per reload with 10,000 services. Each
 * run of them becomes one line that says how many proxies that worker
 * stopped; every other line is kept as it is.
 */
export function collapseStopLines(lines: readonly string[]): string[] {
  const out: string[] = [];
  let run: { pid: string; count: number; first: string } | undefined;
  const flush = () => {
    if (run) out.push(run.count === 1 ? run.first : `[WARNING]  (${run.pid}) : ${run.count} proxies stopped (old worker finishing after a reload).`);
    run = undefined;
  };
  for (const line of lines) {
    const m = STOPPED.exec(line);
    const current = run as { pid: string; count: number } | undefined;
    if (m && current !== undefined && current.pid === m[1]) {
      current.count++;
      continue;
    }
    flush();
    if (m) run = { pid: m[1] as string, count: 1, first: line };
    else out.push(line);
  }
  flush();
  return out;
}

function size(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}
