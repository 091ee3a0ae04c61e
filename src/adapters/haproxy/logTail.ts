import fs from 'node:fs';

/**
 * Follows HAProxy's output file (its master writes there, and with DEBUG its
 * workers log traffic to stdout too) and hands each new line to a callback.
 */
export function tailFile(file: string, onLine: (line: string) => void, signal: AbortSignal, intervalMs = 200): void {
  let offset = size(file);
  let partial = '';
  const timer = setInterval(() => {
    const now = size(file);
    if (now < offset) offset = 0;
    if (now === offset) return;
    const fd = fs.openSync(file, 'r');
    try {
      const buf = Buffer.alloc(Math.min(now - offset, 4 << 20));
      fs.readSync(fd, buf, 0, buf.length, offset);
      offset += buf.length;
      const lines = (partial + buf.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (line.trim() !== '') onLine(line);
    } finally {
      fs.closeSync(fd);
    }
  }, intervalMs);
  timer.unref();
  signal.addEventListener('abort', () => clearInterval(timer));
}

function size(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}
