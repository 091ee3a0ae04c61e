/**
 * The long run of the model-based test (test/integration/staysLive.test.ts):
 * random sequences of reconfigure, remove, replicas=0, concurrent pairs,
 * discovery scale up/down/restart and option changes, back to back or with
 * short waits, each step checked through a real HAProxy. Prints the steps,
 * sequences and the first failure (shrunk to a minimal sequence), if any.
 *
 *   node dist/bench/liveModel.js
 *   BENCH_SEED=7 BENCH_SEQUENCES=80 BENCH_STEPS=40 node dist/bench/liveModel.js
 */
import { runModel, startPool } from '../test/support/liveModel.js';
import { runBench, progress, track } from './support/cleanup.js';
import { envInt, table } from './support/stats.js';

const SEED = envInt('BENCH_SEED', 42);
const SEQUENCES = envInt('BENCH_SEQUENCES', 80);
const STEPS = envInt('BENCH_STEPS', 40);

runBench('liveModel', async () => {
  const pool = await startPool();
  track('backends', () => Promise.all(pool.map((b) => b.close())).then(() => undefined));
  progress(`${SEQUENCES} sequences of up to ${STEPS} steps, seed ${SEED}`);
  const started = performance.now();
  // BENCH_PATH replays one sequence of a seed (fast-check's counterexample path).
  const figures = await runModel({ seed: SEED, runs: SEQUENCES, maxCommands: STEPS, pool, ...(process.env.BENCH_PATH && { path: process.env.BENCH_PATH }) });
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(`Model-based run (seed ${SEED})\n`);
  process.stdout.write(`${table(['sequences', 'steps checked', 'seconds', 'failure'], [[String(figures.sequences), String(figures.steps), seconds.toFixed(0), figures.failure ? 'yes' : 'none']])}\n`);
  if (figures.failure) {
    process.stdout.write(`\nMinimal failing sequence:\n${figures.failure}\n`);
    throw new Error('the model found a sequence that leaves a service unroutable');
  }
});
