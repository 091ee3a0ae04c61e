import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import test from 'ava';
import { isLiveHaproxy, readPidFile, signal } from '../../src/adapters/haproxy/pids.js';
import { startBackend } from '../support/backend.js';
import { ROOT } from '../support/flowProxy.js';
import { request } from '../support/http.js';
import { freePort } from '../support/ports.js';
import { tempDir } from '../support/tmp.js';

const run = promisify(execFile);

function quickStartBlocks(): string[] {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Quick start'), readme.indexOf('\n## ', readme.indexOf('## Quick start') + 5));
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1] as string);
}

test('the README gives the two commands, and they exist', (t) => {
  const blocks = quickStartBlocks();
  t.true(blocks.length >= 3, 'run, try, test');
  t.is(blocks[0]?.trim(), 'npm install && npm start');
  t.is(blocks[blocks.length - 1]?.trim(), 'npm test');
  const scripts = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  t.truthy(scripts.start);
  t.truthy(scripts.test);
});

test('a new user following the README gets a routed request', async (t) => {
  const [, tryIt] = quickStartBlocks();
  const backend = await startBackend('readme');
  const api = await freePort();
  const httpPort = await freePort();
  const dataDir = tempDir('fp-readme-');
  // `npm start` exactly as documented, only with free ports instead of 8080/80.
  const child = spawn('npm', ['start', '--silent'], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(api), DEFAULT_PORTS: String(httpPort), DATA_DIR: dataDir, STOP_GRACE: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  try {
    for (let i = 0; i < 400; i++) {
      const up = await request({ port: api, path: '/v1/docker-flow-proxy/ping', timeoutMs: 500 }).then((r) => r.status === 200, () => false);
      if (up) break;
      await sleep(25);
    }
    const script = (tryIt as string)
      .replaceAll('localhost:8080', `localhost:${api}`)
      .replaceAll('http://localhost/', `http://localhost:${httpPort}/`)
      .replaceAll('port=3000', `port=${backend.port}`);
    const { stdout } = await run('bash', ['-c', `set -e\n${script}`]);
    t.regex(stdout, /"Status":"OK"/, out);
    t.regex(stdout, /"backend":"readme"/);
    t.is(backend.seen.at(-1)?.url, '/web/');
  } finally {
    // As Ctrl-C or a supervisor would: the whole process group, so node hears it from npm too.
    process.kill(-(child.pid as number), 'SIGTERM');
    await new Promise((resolve) => child.on('exit', resolve));
    await backend.close();
  }
  const master = readPidFile(path.join(dataDir, 'haproxy', 'run', 'haproxy.pid'));
  const left = master !== undefined && isLiveHaproxy(master);
  if (left) signal(master, 'SIGTERM');
  t.false(left, `HAProxy (${master}) is still running after npm start stopped:\n${out.slice(-2000)}`);
});
