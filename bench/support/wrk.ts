import { spawn } from 'node:child_process';
import { track } from './cleanup.js';

export interface WrkResult {
  requests: number;
  reqPerSec: number;
  /** Latency percentiles in ms (with --latency). */
  p50Ms: number;
  p99Ms: number;
  errors: { connect: number; read: number; write: number; timeout: number };
  non2xx3xx: number;
  durationS: number;
  raw: string;
}

export interface WrkOptions {
  url: string;
  threads?: number;
  connections?: number;
  /** Seconds; with `until`, the run is stopped (SIGINT, wrk still prints its figures) when that promise settles. */
  durationS: number;
  headers?: string[];
  until?: Promise<unknown>;
}

/** Runs wrk (installed on the machine) and parses its report. */
export async function wrk(options: WrkOptions): Promise<WrkResult> {
  const args = [`-t${options.threads ?? 2}`, `-c${options.connections ?? 50}`, `-d${options.durationS}s`, '--latency', '--timeout', '5s'];
  for (const h of options.headers ?? []) args.push('-H', h);
  args.push(options.url);
  const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const forget = track(`wrk ${options.url}`, async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  if (options.until) {
    void options.until.finally(() => {
      if (child.exitCode === null) child.kill('SIGINT');
    });
  }
  const code = await exited;
  await forget();
  if (code !== 0 && !/Requests\/sec/.test(out)) throw new Error(`wrk failed (${code}): ${out}`);
  return parseWrk(out);
}

export function parseWrk(out: string): WrkResult {
  const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? Number.NaN);
  const ms = (re: RegExp) => {
    const m = re.exec(out);
    if (!m) return Number.NaN;
    const v = Number(m[1]);
    const unit = m[2];
    return unit === 'us' ? v / 1000 : unit === 's' ? v * 1000 : unit === 'm' ? v * 60_000 : v;
  };
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const done = /(\d+) requests in ([\d.]+)(\w+),/.exec(out);
  const durationS = done ? Number(done[2]) * (done[3] === 'ms' ? 0.001 : done[3] === 'm' ? 60 : 1) : Number.NaN;
  return {
    requests: done ? Number(done[1]) : Number.NaN,
    reqPerSec: num(/Requests\/sec:\s+([\d.]+)/),
    p50Ms: ms(/^\s+50%\s+([\d.]+)(us|ms|s|m)\b/m),
    p99Ms: ms(/^\s+99%\s+([\d.]+)(us|ms|s|m)\b/m),
    errors: {
      connect: Number(socket?.[1] ?? 0),
      read: Number(socket?.[2] ?? 0),
      write: Number(socket?.[3] ?? 0),
      timeout: Number(socket?.[4] ?? 0),
    },
    non2xx3xx: num(/Non-2xx or 3xx responses: (\d+)/) || 0,
    durationS,
    raw: out,
  };
}

export function socketErrors(r: WrkResult): number {
  return r.errors.connect + r.errors.read + r.errors.write + r.errors.timeout;
}
