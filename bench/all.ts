/**
 * Runs every benchmark one after the other, each in its own process (so
 * that one's leftovers cannot skew the next), and prints their reports.
 *
 *   npm run bench            (builds first)
 *   node dist/bench/all.js [applyLatency burst zeroDrop scale dataPlane churn replicas liveModel]
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ALL = ['applyLatency', 'burst', 'zeroDrop', 'scale', 'dataPlane', 'churn', 'replicas', 'liveModel'];
const dir = path.dirname(fileURLToPath(import.meta.url));
const chosen = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ALL;
const unknown = chosen.filter((n) => !ALL.includes(n));
if (unknown.length > 0) {
  process.stderr.write(`unknown benchmark(s): ${unknown.join(', ')}; choose from ${ALL.join(', ')}\n`);
  process.exit(2);
}

let failed = 0;
let current: ReturnType<typeof spawn> | undefined;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  // Each benchmark cleans up after itself on a signal; pass it on and wait.
  process.once(sig, () => current?.kill(sig));
}
for (const name of chosen) {
  const started = Date.now();
  const code = await new Promise<number | null>((resolve) => {
    current = spawn(process.execPath, [path.join(dir, `${name}.js`)], { stdio: 'inherit' });
    current.once('exit', (c) => resolve(c));
  });
  current = undefined;
  process.stderr.write(`${name}: exit ${code} after ${Math.round((Date.now() - started) / 1000)} s\n\n`);
  if (code !== 0) failed++;
  if (code === 130) break;
}
process.exit(failed > 0 ? 1 : 0);
