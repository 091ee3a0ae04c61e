import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import test from 'ava';
import { startBackend } from '../support/backend.js';
import { answeredBy } from '../support/http.js';
import { MAIN, startFlowProxy } from '../support/flowProxy.js';

const run = promisify(execFile);

test('DISCOVERY=none: the discovery endpoint says so and the API works', async (t) => {
  const proxy = await startFlowProxy({ env: { DISCOVERY: 'none' } });
  try {
    const res = await proxy.api('discovery');
    t.is(res.status, 200);
    t.like(res.json, { Status: 'OK', Discovery: 'none', Services: [], Skipped: [] });
  } finally {
    await proxy.cleanup();
  }
});

test('with no Docker to talk to, the proxy still starts, routes API services and reports why discovery is idle', async (t) => {
  const backend = await startBackend('no-docker');
  const proxy = await startFlowProxy({ env: { DISCOVERY: 'docker', DOCKER_HOST: 'unix:///nonexistent/docker.sock' } });
  try {
    const res = await proxy.api('discovery');
    t.like(res.json, { Discovery: 'docker', DockerHost: 'unix:///nonexistent/docker.sock', Connected: false });
    t.regex(String(res.json.LastError), /nonexistent\/docker\.sock|ENOENT/);
    const added = await proxy.api('reconfigure', { serviceName: 'api-only', servicePath: '/api-only', port: String(backend.port), outboundHostname: '127.0.0.1' });
    t.is(added.status, 200, added.body);
    t.is(answeredBy(await proxy.get('/api-only')), 'no-docker');
    t.regex(proxy.output(), /Docker could not be read at start/);
  } finally {
    await proxy.cleanup();
    await backend.close();
  }
});

test('invalid discovery settings are reported at start, all of them', async (t) => {
  const error = await run(process.execPath, [MAIN], {
    env: { PATH: process.env.PATH, DISCOVERY: 'swarm', DOCKER_HOST: 'ssh://host', DF_NOTIFY_LABEL: 'bad label', DOCKER_NETWORK: '-x' },
  }).then(() => undefined, (e: { code?: number; stderr?: string }) => e);
  t.is(error?.code, 2);
  t.regex(error?.stderr ?? '', /DISCOVERY "swarm" must be docker or none/);
  t.regex(error?.stderr ?? '', /DOCKER_HOST "ssh:\/\/host" must be unix:\/\/\/path\/to\/docker.sock or tcp:\/\/host:port/);
  t.regex(error?.stderr ?? '', /DF_NOTIFY_LABEL "bad label" must be a label name/);
  t.regex(error?.stderr ?? '', /DOCKER_NETWORK "-x" must be a Docker network name/);
});
