import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import test from 'ava';
import { IMAGE, requirePrerequisites, startDockerEngine, type DockerEngine } from '../support/dockerEngine.js';
import { BUILD, ROOT } from '../support/flowProxy.js';
import { unixRequest } from '../support/unixHttp.js';
import { tempDir } from '../support/tmp.js';

// The image and compose.yml on a real engine. No base image can be pulled
// here, so the base is assembled from this machine's node, haproxy and tini
// (scripts/local-base.sh); the Dockerfile is the one users build.
const run = promisify(execFile);
let engine: DockerEngine;
const TAG = 'flow-proxy:ci';

test.before(async () => {
  requirePrerequisites();
  engine = await startDockerEngine({ tag: 'img' });
  const env = { ...process.env, DOCKER_HOST: engine.dockerHost, DOCKER_BUILDKIT: '0', FLOW_PROXY_PREBUILT: '1', FLOW_PROXY_BUILD_DIR: BUILD };
  await run(path.join(ROOT, 'scripts', 'local-base.sh'), ['local/flow-proxy-base:1'], { env, maxBuffer: 1 << 26 });
  await run(path.join(ROOT, 'scripts', 'build-image.sh'), [TAG, '--build-arg', 'BASE=local/flow-proxy-base:1', '--build-arg', 'INSTALL_PACKAGES=false'], { env, maxBuffer: 1 << 26, timeout: 600_000 });
});

test.after.always(async () => {
  await engine?.stop();
});

async function waitFor<T>(probe: () => Promise<T>, ok: (v: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = await probe().catch(() => undefined as T);
  while (!ok(last) && Date.now() < deadline) {
    await sleep(100);
    last = await probe().catch(() => undefined as T);
  }
  return last;
}

test.serial('the image runs the proxy under tini with HAProxy, discovers labelled containers, reports healthy and reaps old workers', async (t) => {
  const api = 28081;
  const http = 28080;
  await engine.docker(['run', '-d', '--name', 'fp', '--network', 'host', '--user', 'root',
    '-e', `PORT=${api}`, '-e', `DEFAULT_PORTS=${http}`, '-e', 'DISCOVERY=docker', '-e', 'DOCKER_HOST=unix:///var/run/docker.sock',
    '-v', `${engine.socket}:/var/run/docker.sock:ro`, '-v', 'fp-data:/data', TAG]);
  const apiSock = await engine.forward(api);
  const httpSock = await engine.forward(http);
  const ready = await waitFor(() => unixRequest({ socketPath: apiSock, path: '/ready' }), (r) => r?.status === 200, 60_000);
  t.is(ready?.status, 200);

  await engine.docker(['run', '-d', '--name', 'web1', '--network', 'host', '-l', 'com.df.notify=true', '-l', 'com.df.servicePath=/web', '-l', 'com.df.port=28090',
    IMAGE, 'sh', '-c', 'mkdir -p /www/web && echo image-web > /www/web/index.html && exec httpd -f -p 127.0.0.1:28090 -h /www']);
  const routed = await waitFor(() => unixRequest({ socketPath: httpSock, path: '/web/' }), (r) => r?.status === 200, 30_000);
  t.regex(routed?.body ?? '', /image-web/);
  // The dashboard's files ship in the image.
  for (const file of ['/dashboard', '/dashboard/app.js', '/dashboard/app.css']) t.is((await unixRequest({ socketPath: apiSock, path: file })).status, 200, file);

  for (let i = 0; i < 5; i++) t.is((await unixRequest({ socketPath: apiSock, path: '/v1/docker-flow-proxy/reload?recreate=true' })).status, 200);
  await sleep(500);
  const top = await engine.docker(['top', 'fp', '-o', 'pid,stat,comm']);
  t.notRegex(top, /\sZ\S*\s/, `no zombie:\n${top}`);
  t.regex(top, /tini/);
  t.regex(top, /haproxy/);

  const health = await waitFor(() => engine.docker(['inspect', '-f', '{{.State.Health.Status}}', 'fp']), (s) => s?.trim() === 'healthy', 40_000);
  t.is(health?.trim(), 'healthy');

  const started = Date.now();
  await engine.docker(['stop', '-t', '20', 'fp']);
  t.true(Date.now() - started < 15_000, 'stops on SIGTERM without being killed');
  t.is((await engine.docker(['inspect', '-f', '{{.State.ExitCode}}', 'fp'])).trim(), '0');
  await engine.docker(['rm', '-f', 'fp', 'web1']);
});

test.serial('with unprivileged ports the image runs as the flowproxy user', async (t) => {
  const api = 28181;
  await engine.docker(['run', '-d', '--name', 'fp-user', '--network', 'host', '-e', `PORT=${api}`, '-e', 'DEFAULT_PORTS=28180', '-e', 'DISCOVERY=none', TAG]);
  const apiSock = await engine.forward(api);
  t.is((await waitFor(() => unixRequest({ socketPath: apiSock, path: '/ready' }), (r) => r?.status === 200, 60_000))?.status, 200);
  const uid = (await engine.docker(['exec', 'fp-user', 'id', '-u'])).trim();
  t.not(uid, '0');
  const top = await engine.docker(['top', 'fp-user', '-o', 'pid,user,comm']);
  t.notRegex(top.split('\n').filter((l) => /haproxy|node/.test(l)).join('\n'), /^\S+\s+root\s/m);
  await engine.docker(['rm', '-f', 'fp-user']);
});

test.serial('compose.yml is valid for docker-compose, with and without the Swarm settings', async (t) => {
  const env = { ...process.env, DOCKER_HOST: engine.dockerHost };
  const { stdout } = await run('docker-compose', ['-f', path.join(ROOT, 'compose.yml'), 'config'], { env });
  t.regex(stdout, /com\.df\.notify: ['"]true['"]/);
  t.regex(stdout, /\/var\/run\/docker\.sock:\/var\/run\/docker\.sock:ro/);
  t.regex(stdout, /internal: true/);
  const swarm = await run('docker-compose', ['-f', path.join(ROOT, 'compose.yml'), 'config'], { env: { ...env, PEER_DISCOVERY: 'dns', FLOW_PROXY_IMAGE: TAG } });
  t.regex(swarm.stdout, /PEER_DISCOVERY: dns/);
});

test.serial('the compose.yml edge stack comes up on the engine and spreads traffic over every web replica', async (t) => {
  // The web tier's image: the README's example uses traefik/whoami, which cannot be pulled here;
  // this one answers with its container's hostname in the same way, from the local busybox.
  const webDir = tempDir('fp-web-');
  fs.writeFileSync(path.join(webDir, 'Dockerfile'), `FROM ${IMAGE}\nCMD ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www"]\n`);
  const env = { ...process.env, DOCKER_HOST: engine.dockerHost, DOCKER_BUILDKIT: '0' };
  await run('docker', ['build', '-q', '-t', 'local/web:1', webDir], { env });
  fs.rmSync(webDir, { recursive: true, force: true });
  const compose = (args: string[]) => run('docker-compose', ['-p', 'edge', '-f', path.join(ROOT, 'compose.yml'), ...args], {
    env: { ...env, FLOW_PROXY_IMAGE: TAG, WEB_IMAGE: 'local/web:1', DOCKER_SOCKET: engine.socket },
    maxBuffer: 1 << 24,
    timeout: 180_000,
  });
  try {
    await compose(['up', '-d']);
    const ps = await engine.docker(['ps', '--format', '{{.Names}} {{.Status}}']);
    t.is(ps.split('\n').filter((l) => l.startsWith('edge_web_')).length, 3, `three web replicas, as compose.yml says:\n${ps}`);
    t.is(ps.split('\n').filter((l) => l.startsWith('edge_proxy_')).length, 1, `one proxy without Swarm:\n${ps}`);
    // Port 80 as a user's curl http://localhost/ reaches it: published by the engine on the namespace's loopback.
    const http = await engine.forward(80);
    const first = await waitFor(() => unixRequest({ socketPath: http, path: '/' }), (r) => r?.status === 200, 60_000);
    if (first?.status !== 200) t.log((await engine.docker(['logs', '--tail', '60', 'edge_proxy_1']).catch((e: unknown) => String(e))));
    t.is(first?.status, 200, first?.body);
    const hostnames = new Set<string>();
    const webIds = (await engine.docker(['ps', '-q', '--filter', 'label=com.docker.compose.service=web'])).split('\n');
    for (let i = 0; i < 60 && hostnames.size < webIds.length; i++) {
      const r = await unixRequest({ socketPath: http, path: '/' });
      t.is(r.status, 200);
      hostnames.add(r.body.trim());
    }
    t.deepEqual([...hostnames].sort(), webIds.map((id) => id.slice(0, 12)).sort(), 'every web replica answers, and only they do');
    // The API is on the internal network only: nothing publishes 8080.
    t.notRegex(await engine.docker(['port', 'edge_proxy_1']), /8080/);
    // Scaling the web tier is routed without touching the proxy.
    await compose(['up', '-d', '--scale', 'web=1', '--no-recreate']);
    const left = (await engine.docker(['ps', '-q', '--filter', 'label=com.docker.compose.service=web'])).split('\n');
    t.is(left.length, 1);
    const after = new Set<string>();
    for (let i = 0; i < 20; i++) after.add((await waitFor(() => unixRequest({ socketPath: http, path: '/' }), (r) => r?.status === 200, 10_000))?.body.trim() ?? '');
    t.deepEqual([...after], [left[0]?.slice(0, 12)], 'only the remaining replica gets traffic');
  } finally {
    await compose(['down', '-v', '--timeout', '10']).catch((e: unknown) => t.log(`compose down: ${String(e)}`));
  }
});
