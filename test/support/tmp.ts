import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const dirs = new Set<string>();
let installed = false;

/**
 * A new directory under the system's temp directory, removed when the test
 * process exits. The removal is registered on first use, after the process
 * reapers of the support modules (their `exit` handlers stop the flow-proxy
 * and HAProxy processes that write into these directories), so it runs last.
 */
export function tempDir(prefix: string): string {
  if (!installed) {
    installed = true;
    process.once('exit', removeTempDirs);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix.endsWith('-') ? prefix : `${prefix}-`));
  dirs.add(dir);
  return dir;
}

function removeTempDirs(): void {
  if (process.env.KEEP_TEST_DIRS === '1') return;
  for (const dir of dirs) {
    try {
      fs.rmSync(dir, { recursive: true, force: true, maxRetries: 2 });
    } catch {
      // a file still held open elsewhere; nothing a test could do about it now
    }
  }
}
