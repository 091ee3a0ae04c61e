import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { SETTINGS_HELP } from '../../src/cli/settingsHelp.js';
import { isLiveHaproxy, readPidFile } from '../../src/adapters/haproxy/pids.js';
import { startBackend, type Backend } from '../support/backend.js';
import { flowProxyEnv, ROOT, startFlowProxy, waitForApi, type FlowProxy } from '../support/flowProxy.js';
import { answeredBy, request } from '../support/http.js';
import { freePort, isListening } from '../support/ports.js';
import { tempDir } from '../support/tmp.js';

// The package's `flow-proxy` bin, spawned as a user runs it, against a real proxy.

const BIN = path.join(ROOT, 'bin', 'flow-proxy');
const TOKEN = 'cli-test-token-0123456789';

let proxy: FlowProxy;
let web: Backend;
let api: Backend;

test.before(async () => {
  web = await startBackend('web');
  api = await startBackend('api');
  proxy = await startFlowProxy({ env: { DISCOVERY: 'none', API_TOKEN: TOKEN } });
  const auth = { headers: { Authorization: `Bearer ${TOKEN}` } };
  const services: Array<Record<string, string>> = [
    { serviceName: 'web', servicePath: '/', serviceDomain: 'example.com', port: String(web.port) },
    { serviceName: 'api', servicePath: '/api', port: String(api.port), serviceHeader: 'X-Version:2' },
    { serviceName: 'api-v1', servicePath: '/api', port: String(web.port) },
  ];
  for (const q of services) {
    const res = await proxy.api('reconfigure', { outboundHostname: '127.0.0.1', ...q }, auth);
    if (res.status !== 200) throw new Error(res.body);
  }
});

test.after.always(async () => {
  await proxy?.cleanup();
  await web?.close();
  await api?.close();
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    // 'close', not 'exit': the output may still be in the pipes when the process exits.
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const apiArg = () => ['--api', `http://127.0.0.1:${proxy.apiPort}`];

test('the bin is an executable file with a shebang, and package.json points at it', (t) => {
  fs.accessSync(BIN, fs.constants.X_OK);
  t.true(fs.readFileSync(BIN, 'utf8').startsWith('#!/usr/bin/env node\n'));
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
  t.is(pkg.bin['flow-proxy'], 'bin/flow-proxy');
});

test('--help prints the commands and every setting with its default, exits 0 and starts nothing', async (t) => {
  const dataDir = path.join(tempDir('fp-cli-help-'), 'never-created');
  const port = await freePort();
  const r = await run(['--help'], { DATA_DIR: dataDir, PORT: String(port) });
  t.is(r.code, 0, r.stderr);
  for (const word of ['status', 'routes', 'explain <url|path>', 'diff <reconfigure query>', '--api URL', '--json', 'API_TOKEN']) t.true(r.stdout.includes(word), word);
  for (const { settings } of SETTINGS_HELP) {
    for (const s of settings) t.true(r.stdout.includes(s.name), s.name);
  }
  t.regex(r.stdout, /PORT\s+API port\. \(default: 8080\)/);
  t.regex(r.stdout, /DEFAULT_PORTS \(S\)\s+HTTP binds.*\n.*\(default: 80,443:ssl\)/);
  t.false(fs.existsSync(dataDir), 'no data directory was created');
  t.false(await isListening(port), 'no API was started');
  t.is((await run(['-h'])).code, 0);
});

test('status and routes describe the proxy, in text and in JSON', async (t) => {
  const status = await run(['status', ...apiArg()]);
  t.is(status.code, 0, status.stderr);
  t.regex(status.stdout, /: ready/);
  t.regex(status.stdout, /services\s+3 \(3 live, 0 quarantined\)/);
  t.regex(status.stdout, /^ {2}api-v1\s+api\s+live\s+up\s+1\s+127\.0\.0\.1:\d+ (UP( \S+)?|no check)$/m);
  const json = await run(['status', '--json', ...apiArg()]);
  const parsed = JSON.parse(json.stdout) as { Services: Array<{ Name: string }>; Discovery: { Discovery: string } };
  t.deepEqual(parsed.Services.map((s) => s.Name), ['api', 'api-v1', 'web']);
  t.is(parsed.Discovery.Discovery, 'none');

  const routes = await run(['routes', ...apiArg()]);
  t.is(routes.code, 0, routes.stderr);
  t.regex(routes.stdout, /^ {2}1\s+api\s+any host, path prefix \/api when \{ req\.hdr\(X-Version\) -m str '2' \}\s+\S+$/m);
  t.regex(routes.stdout, /^ {2}2\s+api-v1\s+any host, path prefix \/api\s+\S+$/m);
  t.regex(routes.stdout, /^ {2}3\s+web\s+host example\.com, path prefix \/\s+\S+$/m);
  const routesJson = JSON.parse((await run(['routes', '--json', ...apiArg()])).stdout) as { Routes: Array<{ Order: number; Service: string }> };
  t.deepEqual(routesJson.Routes.map((r) => [r.Order, r.Service]), [[1, 'api'], [2, 'api-v1'], [3, 'web']]);
});

test('explain <url> -X -H says which service answers, and agrees with the traffic', async (t) => {
  const url = `http://Example.COM:${proxy.httpPort}/api/users`;
  const withHeader = await run(['explain', url, '-X', 'POST', '-H', 'X-Version: 2', ...apiArg()]);
  t.is(withHeader.code, 0, withHeader.stderr);
  t.regex(withHeader.stdout, new RegExp(`^POST ${url.replace(/[.?]/g, '\\$&')} -> service api \\(backend \\S+\\)$`, 'm'));
  t.regex(withHeader.stdout, /matched as: host example\.com, path \/api\/users/);
  t.regex(withHeader.stdout, /matched\s+api-v1[\s\S]*a route with conditions/);
  t.is(answeredBy(await request({ port: proxy.httpPort, path: '/api/users', method: 'POST', host: 'Example.COM', headers: { 'X-Version': '2' } })), 'api');
  const plain = JSON.parse((await run(['explain', url, '--json', ...apiArg()])).stdout) as { Service: string };
  t.is(plain.Service, 'api-v1');
  const root = JSON.parse((await run(['explain', `example.com:${proxy.httpPort}/`, '--json', ...apiArg()])).stdout) as { Service: string };
  t.is(root.Service, 'web');
  const none = await run(['explain', '/nothing', ...apiArg()]);
  t.regex(none.stdout, /-> no service/);
});

test('diff previews a reconfigure with the token from API_TOKEN; without it the proxy refuses as for the real call', async (t) => {
  const query = `serviceName=web&servicePath=/,/www&serviceDomain=example.com&port=${web.port}&outboundHostname=127.0.0.1`;
  const applies = async () => ((await proxy.api('services')).json.Applies as unknown[]).length;
  const before = await applies();
  const refused = await run(['diff', query, ...apiArg()]);
  t.is(refused.code, 1);
  t.regex(refused.stderr, /the API answered 401/);
  const r = await run(['diff', query, ...apiArg()], { API_TOKEN: TOKEN });
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^Dry run of reconfigure web: runtime \(1 route set\)\. Nothing was changed\.$/m);
  t.regex(r.stdout, /^\+\+\+ b\/maps\/host_path_prefix\.map$/m);
  t.regex(r.stdout, /^\+example\.com\/www \S+$/m);
  const json = JSON.parse((await run(['diff', `?${query}`, '--json', ...apiArg()], { API_TOKEN: TOKEN })).stdout) as { DryRun: boolean; Kind: string };
  t.deepEqual([json.DryRun, json.Kind], [true, 'runtime']);
  const removal = await run(['diff', 'remove?serviceName=api', ...apiArg()], { API_TOKEN: TOKEN });
  t.regex(removal.stdout, /^Dry run of remove api: reload \(.+\), checked with haproxy -c\. Nothing was changed\.$/m);
  t.regex(removal.stdout, /^-    http-request set-var\(txn\.fp_be\) str\(api-\S+\) if .*X-Version/m);
  const bad = await run(['diff', 'serviceName=web&servicePath=/&port=eighty', ...apiArg()], { API_TOKEN: TOKEN });
  t.is(bad.code, 1);
  t.regex(bad.stderr, /the API answered 400: port "eighty" is not a port number/);
  // Nothing changed: no apply, and api still answers.
  t.is(await applies(), before);
  t.is(answeredBy(await request({ port: proxy.httpPort, path: '/api', headers: { 'X-Version': '2' } })), 'api');
});

test('bad usage exits 2 naming the problem; an unreachable API exits 3', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['frobnicate'], /unknown command "frobnicate"/],
    [['status', '--bogus'], /unknown option --bogus/],
    [['explain'], /explain needs one URL or path/],
    [['diff'], /diff needs a reconfigure query/],
    [['status', '--api', 'ftp://x'], /--api "ftp:\/\/x" must be an http/],
    [['routes', '-X', 'GET'], /-X and -H are for explain only/],
    [['explain', '/x', '-H', 'novalue'], /-H "novalue" must be 'Name: value'/],
  ];
  for (const [args, message] of cases) {
    const r = await run(args);
    t.is(r.code, 2, args.join(' '));
    t.regex(r.stderr, message);
  }
  const port = await freePort();
  const down = await run(['status', '--api', `http://127.0.0.1:${port}`]);
  t.is(down.code, 3);
  t.regex(down.stderr, /cannot reach the flow-proxy API at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/);
});

for (const args of [[], ['run']]) {
  test(`flow-proxy ${args.join(' ') || '(no command)'} runs the proxy, and SIGTERM stops it and its HAProxy`, async (t) => {
    const dataDir = tempDir('fp-cli-run-');
    const apiPort = await freePort();
    const httpPort = await freePort();
    const env = { ...flowProxyEnv({ apiPort, httpPort, dataDir }), DISCOVERY: 'none', LOG_LEVEL: 'info' };
    const child = spawn(BIN, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await waitForApi(child, () => out, () => request({ port: apiPort, path: '/v1/docker-flow-proxy/ping', timeoutMs: 1000 }));
      const res = await request({ port: apiPort, path: `/v1/docker-flow-proxy/reconfigure?serviceName=web&servicePath=/web&port=${web.port}&outboundHostname=127.0.0.1` });
      t.is(res.status, 200, res.body);
      t.is(answeredBy(await request({ port: httpPort, path: '/web' })), 'web');
      const master = readPidFile(path.join(dataDir, 'haproxy', 'run', 'haproxy.pid'));
      t.true(master !== undefined && isLiveHaproxy(master));
      child.kill('SIGTERM');
      t.is(await exited, 0, out);
      t.false(master !== undefined && isLiveHaproxy(master), 'HAProxy stopped too');
      t.false(await isListening(httpPort));
      t.false(await isListening(apiPort));
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
}
