import { spawn } from 'node:child_process';
import { haproxyEnvironment } from './environment.js';

import type { Alert, CheckResult } from '../../core/ports.js';

export type { Alert, CheckResult };

/** Runs `haproxy -c -f file` (never -q, which hides the errors) and parses its ALERT lines. */
export function checkConfig(haproxyBin: string, file: string, timeoutMs = 60_000): Promise<CheckResult> {
  return new Promise((resolve) => {
    const child = spawn(haproxyBin, ['-c', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'], env: haproxyEnvironment() });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ ok: false, alerts: [{ message: `cannot run ${haproxyBin}: ${e.message}`, names: [] }], output });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ ok: code === 0, alerts: parseAlerts(output), output });
    });
  });
}

const ALERT = /^\[ALERT\]\s+\(\d+\)\s*:\s*(?:config\s*:\s*)?(.*)$/;
const LOCATION = /\[([^\]]+?):(\d+)\]/;
const NAMES = /(?:backend|proxy|frontend|listen|userlist|server)\s+'([^']+)'/gi;
const QUOTED_SERVER = /'server\s+([^'/]+)\/([^']+)'/g;

/** Extracts the errors from HAProxy's output, dropping the summary lines that carry no information. */
export function parseAlerts(output: string): Alert[] {
  const alerts: Alert[] = [];
  for (const raw of output.split('\n')) {
    const m = ALERT.exec(raw.trim());
    if (!m) continue;
    const message = (m[1] as string).trim();
    if (/^(Fatal errors found in configuration|Error\(s\) found in configuration file)/.test(message)) continue;
    const loc = LOCATION.exec(message);
    const names = new Set<string>();
    for (const n of message.matchAll(NAMES)) names.add(n[1] as string);
    for (const n of message.matchAll(QUOTED_SERVER)) names.add(n[1] as string);
    alerts.push({
      ...(loc && { file: loc[1] as string, line: Number(loc[2]) }),
      message,
      names: [...names],
    });
  }
  return alerts;
}
