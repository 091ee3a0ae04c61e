/**
 * Everything a benchmark starts (flow-proxy, HAProxy, backends, wrk, temp
 * directories) registers how to stop it here; `runBench` stops all of it in
 * reverse order when the benchmark ends, fails or is interrupted.
 */

interface Resource {
  name: string;
  stop: () => Promise<void> | void;
}

const resources: Resource[] = [];

/** Registers a resource; returns a function that stops it now and forgets it. */
export function track(name: string, stop: () => Promise<void> | void): () => Promise<void> {
  const r: Resource = { name, stop };
  resources.push(r);
  return async () => {
    const i = resources.indexOf(r);
    if (i < 0) return;
    resources.splice(i, 1);
    await r.stop();
  };
}

let stopping: Promise<void> | undefined;

/** Stops every resource once, last started first; concurrent callers share the same run. */
function stopAll(): Promise<void> {
  stopping ??= (async () => {
    while (resources.length > 0) {
      const r = resources.pop() as Resource;
      try {
        await r.stop();
      } catch (e) {
        process.stderr.write(`cleanup of ${r.name} failed: ${e instanceof Error ? e.message : String(e)}\n`);
      }
    }
  })();
  return stopping;
}

/** Runs a benchmark, then cleans up whatever happened; exits non-zero on failure or interruption. */
export function runBench(name: string, main: () => Promise<void>): void {
  let exitCode: number | undefined;
  const finish = (code: number, why?: string) => {
    if (exitCode !== undefined) return; // the first reason wins; cleanup is already under way
    exitCode = code;
    if (why) process.stderr.write(`${name}: ${why}\n`);
    void stopAll().then(() => process.exit(code));
  };
  const describe = (e: unknown) => (e instanceof Error ? e.stack ?? e.message : String(e));
  process.once('SIGINT', () => finish(130, 'SIGINT, cleaning up'));
  process.once('SIGTERM', () => finish(143, 'SIGTERM, cleaning up'));
  // Failures after an interruption are expected (the processes are going away); never crash before cleanup.
  process.on('unhandledRejection', (e) => finish(1, `failed: ${describe(e)}`));
  process.on('uncaughtException', (e) => finish(1, `failed: ${describe(e)}`));
  main().then(
    () => finish(0),
    (e: unknown) => finish(1, `failed: ${describe(e)}`),
  );
}

/** Logs progress to stderr, so stdout holds only the figures. */
export function progress(message: string): void {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}
