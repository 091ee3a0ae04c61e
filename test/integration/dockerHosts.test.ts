import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import test from 'ava';
import { eventually, MAIN, startFlowProxy } from '../support/flowProxy.js';
import { freePort } from '../support/ports.js';
import { tempDir } from '../support/tmp.js';

const run = promisify(execFile);

/** Runs flow-proxy with `env` and returns how it exited (it is expected not to start). */
async function refused(env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  const dataDir = tempDir('fp-hosts-');
  try {
    await run(process.execPath, [MAIN], { env: { PATH: process.env.PATH, DATA_DIR: dataDir, PORT: String(await freePort()), DEFAULT_PORTS: String(await freePort()), IP: '127.0.0.1', ...env }, timeout: 20_000 });
    return { code: 0, stderr: '' };
  } catch (e) {
    const err = e as { code?: number; stderr?: string };
    return { code: err.code ?? -1, stderr: err.stderr ?? '' };
  }
}

test('DOCKER_HOSTS whose only entry is bad is a start-up error naming the variable and the value', async (t) => {
  const r = await refused({ DOCKER_HOSTS: 'far=ssh://me@far' });
  t.is(r.code, 2);
  t.regex(r.stderr, /DOCKER_HOSTS "far=ssh:\/\/me@far" has no usable engine: DOCKER_HOSTS entry "far=ssh:\/\/me@far" is not unix:\/\/\/path\/to\/docker.sock or tcp:\/\/host:port/);
});

test('an engine whose TLS files cannot be read is skipped; when it is the only one, the proxy does not start and says which file', async (t) => {
  const r = await refused({ DOCKER_HOSTS: 'secure=tcp://127.0.0.1:9?tls=verify&certs=/nonexistent/certs' });
  t.is(r.code, 1);
  t.regex(r.stderr, /no Docker engine to follow: engine "secure" \(tcp:\/\/127\.0\.0\.1:9\): cannot read \/nonexistent\/certs\/ca\.pem \(ENOENT\)/);
});

test('bad entries beside a usable one: the proxy starts, warns about each, and /discovery shows them and each engine\'s state since when', async (t) => {
  const proxy = await startFlowProxy({
    env: { DOCKER_HOSTS: 'here=unix:///nonexistent/docker.sock,odd=tcp://x:1?tls=maybe,locked=tcp://127.0.0.1:9?certs=/nonexistent/certs' },
  });
  try {
    const warnings = proxy.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { level: number; msg: string }).filter((l) => l.level === 40 && /DOCKER_HOSTS|engine "locked"/.test(l.msg));
    t.is(warnings.length, 2, proxy.output());
    const d = await eventually(async () => (await proxy.api('discovery')).json, (j) => (j.Engines as Array<{ State: string }>)[0]?.State === 'down', 10_000);
    t.like(d, { Discovery: 'docker', Connected: false });
    const engines = d.Engines as Array<{ Name: string; Url: string; State: string; Since: string; LastError?: string }>;
    t.deepEqual(engines.map((e) => [e.Name, e.Url, e.State]), [['here', 'unix:///nonexistent/docker.sock', 'down']]);
    t.false(Number.isNaN(Date.parse(engines[0]?.Since ?? '')));
    t.regex(engines[0]?.LastError ?? '', /ENOENT/);
    const bad = d.BadEngines as string[];
    t.is(bad.length, 2);
    t.regex(bad[0] ?? '', /DOCKER_HOSTS entry "odd=tcp:\/\/x:1\?tls=maybe" has tls="maybe", which must be verify, noverify or off; it is skipped/);
    t.regex(bad[1] ?? '', /engine "locked" .*cannot read \/nonexistent\/certs\/ca\.pem.*; it is skipped/);
  } finally {
    await proxy.cleanup();
  }
});
