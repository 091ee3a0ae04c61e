import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import test from 'ava';
import { startBackend, type Backend } from '../support/backend.js';
import { answeredBy, type Response } from '../support/http.js';
import { startFlowProxy, type FlowProxy } from '../support/flowProxy.js';
import { tempDir } from '../support/tmp.js';
import { proxyDataPlaneProblems } from '../support/dataPlaneCheck.js';

// HTTP features of docker-flow-proxy's reconfigure, each proven with real
// requests through HAProxy to real backends. Tests use their own paths.
let proxy: FlowProxy;
let a: Backend;
let b: Backend;
const templates = tempDir('fp-tpl-');

test.before(async () => {
  a = await startBackend('a');
  b = await startBackend('b');
  const dataDir = tempDir('fp-http-');
  fs.mkdirSync(path.join(dataDir, 'secrets'));
  fs.writeFileSync(path.join(dataDir, 'secrets', 'dfp_users_team'), 'alice:wonderland\ncarol:carolpw\n');
  proxy = await startFlowProxy({ dataDir, env: { TEMPLATE_DIRS: templates } });
});

// Every test leaves HAProxy running exactly what the live config says (tests here are serial, on one proxy).
test.afterEach(async (t) => {
  t.deepEqual(await proxyDataPlaneProblems(proxy), []);
});

test.after.always(async () => {
  await proxy?.cleanup();
  await a?.close();
  await b?.close();
});

const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

async function add(serviceName: string, params: Record<string, string>, to: Backend = a) {
  const res = await proxy.api('reconfigure', { serviceName, port: String(to.port), outboundHostname: '127.0.0.1', ...params });
  return res;
}

function seen(res: Response): { url: string; headers: Record<string, string> } {
  return JSON.parse(res.body) as { url: string; headers: Record<string, string> };
}

test.serial('basic auth: users, realm {service}Realm, Authorization not forwarded', async (t) => {
  t.is((await add('auth', { servicePath: '/auth', users: 'bob:secret1,eve:pw:with:colons' })).status, 200);
  const denied = await proxy.get('/auth');
  t.is(denied.status, 401);
  t.is(denied.headers['www-authenticate'], 'Basic realm="authRealm"');
  t.is((await proxy.get('/auth', { headers: { Authorization: basic('bob', 'wrong') } })).status, 401);
  const ok = await proxy.get('/auth', { headers: { Authorization: basic('bob', 'secret1') } });
  t.is(ok.status, 200);
  t.is(seen(ok).headers.authorization, undefined, 'credentials are not forwarded');
  t.is((await proxy.get('/auth', { headers: { Authorization: basic('eve', 'pw:with:colons') } })).status, 200);
});

test.serial('basic auth: usersSecret reads /run/secrets/dfp_users_<name>; a user without password takes it from there', async (t) => {
  t.is((await add('auth-secret', { servicePath: '/auth-secret', usersSecret: 'team' })).status, 200);
  t.is((await proxy.get('/auth-secret', { headers: { Authorization: basic('alice', 'wonderland') } })).status, 200);
  t.is((await proxy.get('/auth-secret', { headers: { Authorization: basic('carol', 'carolpw') } })).status, 200);
  t.is((await add('auth-mix', { servicePath: '/auth-mix', users: 'carol', usersSecret: 'team' })).status, 200);
  t.is((await proxy.get('/auth-mix', { headers: { Authorization: basic('carol', 'carolpw') } })).status, 200);
  t.is((await proxy.get('/auth-mix', { headers: { Authorization: basic('alice', 'wonderland') } })).status, 401);
});

test.serial('basic auth: usersPassEncrypted takes crypt(3) hashes', async (t) => {
  const hash = execFileSync('openssl', ['passwd', '-6', '-salt', 'flowsalt', 'hashed-pw']).toString().trim();
  t.is((await add('auth-enc', { servicePath: '/auth-enc', users: `dave:${hash}`, usersPassEncrypted: 'true' })).status, 200);
  t.is((await proxy.get('/auth-enc', { headers: { Authorization: basic('dave', 'hashed-pw') } })).status, 200);
  t.is((await proxy.get('/auth-enc', { headers: { Authorization: basic('dave', hash) } })).status, 401);
});

test.serial('basic auth: ignoreAuthorization exempts one destination', async (t) => {
  const res = await add('auth-idx', {
    users: 'bob:secret1',
    'servicePath.1': '/auth-idx/private',
    'servicePath.2': '/auth-idx/public',
    'ignoreAuthorization.2': 'true',
  });
  t.is(res.status, 200, res.body);
  t.is((await proxy.get('/auth-idx/private')).status, 401);
  t.is((await proxy.get('/auth-idx/public')).status, 200);
});

test.serial('passwords never appear in responses or logs', async (t) => {
  for (const body of [(await proxy.api('config')).body, (await proxy.api('config', { type: 'json' })).body, (await proxy.api('services')).body]) {
    for (const secret of ['secret1', 'pw:with:colons', 'wonderland', 'carolpw']) t.false(body.includes(secret), secret);
  }
  t.false(/secret1|wonderland|carolpw/.test(proxy.output()));
});

test.serial('headers: add/set/del on requests and responses, and values holding the separator when quoted', async (t) => {
  const res = await add('hdr', {
    servicePath: '/hdr',
    addReqHeader: 'X-Added 1,X-Quoted "a,b"',
    setReqHeader: 'X-Forwarded-Host example.test',
    delReqHeader: 'X-Remove-Me',
    addResHeader: 'X-Res-Added yes',
    setResHeader: 'Cache-Control "max-age=60, public"',
    delResHeader: 'Content-Type',
  });
  t.is(res.status, 200, res.body);
  const r = await proxy.get('/hdr', { headers: { 'X-Remove-Me': 'x', 'X-Forwarded-Host': 'client.test' } });
  t.is(r.status, 200);
  const h = seen(r).headers;
  t.is(h['x-added'], '1');
  t.is(h['x-quoted'], 'a,b');
  t.is(h['x-forwarded-host'], 'example.test');
  t.is(h['x-remove-me'], undefined);
  t.is(r.headers['x-res-added'], 'yes');
  t.is(r.headers['cache-control'], 'max-age=60, public');
  t.is(r.headers['content-type'], undefined);
});

test.serial('headers: the old names addHeader/setHeader still work, and headers can differ per destination', async (t) => {
  const res = await add('hdr-idx', { addHeader: 'X-Old 1', 'servicePath.1': '/hdr-idx/one', 'servicePath.2': '/hdr-idx/two', 'setHeader.2': 'X-Two 2' });
  t.is(res.status, 200, res.body);
  const one = seen(await proxy.get('/hdr-idx/one')).headers;
  const two = seen(await proxy.get('/hdr-idx/two')).headers;
  t.is(one['x-old'], '1');
  t.is(one['x-two'], undefined);
  t.is(two['x-two'], '2');
});

test.serial('rewrites: reqPathSearchReplace pairs keep the query string; the deprecated pair too', async (t) => {
  t.is((await add('rw', { servicePath: '/rw', reqPathSearchReplace: '^/rw/,/:v1,v2' })).status, 200);
  t.is(seen(await proxy.get('/rw/api/v1/users?x=1&y=2')).url, '/api/v2/users?x=1&y=2');
  t.is((await add('rw-old', { servicePath: '/rw-old', reqPathSearch: '/rw-old', reqPathReplace: '' })).status, 200);
  t.is(seen(await proxy.get('/rw-old/inner?q=z')).url, '/inner?q=z');
  t.is((await add('rw-group', { servicePath: '/rw-group', reqPathSearchReplace: '^/rw-group/(v[0-9]+)/(.*)$,/\\2?version=\\1' })).status, 200);
  t.is(seen(await proxy.get('/rw-group/v3/items')).url, '/items?version=v3', 'groups and back-references work');
});

test.serial('redirects: httpsOnly with the default 302 and with httpsRedirectCode, query kept', async (t) => {
  t.is((await add('ho', { servicePath: '/ho', httpsOnly: 'true' })).status, 200);
  const r = await proxy.get('/ho/x?y=1', { host: 'secure.test' });
  t.is(r.status, 302);
  t.is(r.headers.location, 'https://secure.test/ho/x?y=1');
  t.is((await add('ho301', { servicePath: '/ho301', httpsOnly: 'true', httpsRedirectCode: '301' })).status, 200);
  t.is((await proxy.get('/ho301', { host: 'secure.test' })).status, 301);
});

test.serial('redirects: redirectWhenHttpProto and redirectUnlessHttpsProto follow X-Forwarded-Proto', async (t) => {
  t.is((await add('xfp', { servicePath: '/xfp', redirectWhenHttpProto: 'true', httpsRedirectCode: '308' })).status, 200);
  const r = await proxy.get('/xfp/a', { host: 'lb.test', headers: { 'X-Forwarded-Proto': 'http' } });
  t.is(r.status, 308);
  t.is(r.headers.location, 'https://lb.test/xfp/a');
  t.is(answeredBy(await proxy.get('/xfp/a', { headers: { 'X-Forwarded-Proto': 'https' } })), 'a');
  t.is(answeredBy(await proxy.get('/xfp/a')), 'a', 'no header, no redirect');
  t.is((await add('xfp2', { servicePath: '/xfp2', redirectUnlessHttpsProto: 'true' })).status, 200);
  t.is((await proxy.get('/xfp2', { host: 'lb.test' })).status, 302);
  t.is(answeredBy(await proxy.get('/xfp2', { headers: { 'X-Forwarded-Proto': 'https' } })), 'a');
});

test.serial('redirects: redirectFromDomain sends old hosts to the service domain with 301, path and query kept', async (t) => {
  t.is((await add('rfd', { serviceDomain: 'new.test', redirectFromDomain: 'old.test,*.older.test' })).status, 200);
  const r = await proxy.get('/p/q?z=1', { host: 'old.test' });
  t.is(r.status, 301);
  t.is(r.headers.location, 'http://new.test/p/q?z=1');
  t.is((await proxy.get('/', { host: 'www.older.test' })).headers.location, 'http://new.test/');
  t.is(answeredBy(await proxy.get('/p', { host: 'new.test' })), 'a');
  t.is((await add('rfd-bad', { servicePath: '/x', redirectFromDomain: 'old2.test' })).status, 400);
});

test.serial('filters: serviceHeader requires every header with its exact value', async (t) => {
  t.is((await add('sh', { servicePath: '/sh', serviceHeader: 'X-Version:3,X-Tenant:acme' })).status, 200);
  t.is(answeredBy(await proxy.get('/sh', { headers: { 'X-Version': '3', 'X-Tenant': 'acme' } })), 'a');
  t.is((await proxy.get('/sh', { headers: { 'X-Version': '3' } })).status, 503);
  t.is((await proxy.get('/sh', { headers: { 'X-Version': '4', 'X-Tenant': 'acme' } })).status, 503);
});

test.serial('filters: userAgent routes matching clients; the last destination without it is the catch-all', async (t) => {
  const res = await proxy.api('reconfigure', {
    serviceName: 'ua',
    outboundHostname: '127.0.0.1',
    'servicePath.1': '/ua',
    'port.1': String(a.port),
    'userAgent.1': 'iPhone,Android',
    'servicePath.2': '/ua',
    'port.2': String(b.port),
  });
  t.is(res.status, 200, res.body);
  t.is(answeredBy(await proxy.get('/ua', { headers: { 'User-Agent': 'Mozilla/5.0 (iPhone; CPU)' } })), 'a');
  t.is(answeredBy(await proxy.get('/ua', { headers: { 'User-Agent': 'Mozilla/5.0 (Linux; android 14)' } })), 'a', 'case-insensitive');
  t.is(answeredBy(await proxy.get('/ua', { headers: { 'User-Agent': 'curl/8' } })), 'b');
});

test.serial('filters: allowedMethods, deniedMethods and denyHttp answer 403', async (t) => {
  t.is((await add('am', { servicePath: '/am', allowedMethods: 'GET,HEAD' })).status, 200);
  t.is((await proxy.get('/am')).status, 200);
  t.is((await proxy.get('/am', { method: 'DELETE' })).status, 403);
  t.is((await add('dm', { servicePath: '/dm', deniedMethods: 'DELETE' })).status, 200);
  t.is((await proxy.get('/dm', { method: 'DELETE' })).status, 403);
  t.is((await proxy.get('/dm', { method: 'POST', body: 'x' })).status, 200);
  t.is((await add('dh', { servicePath: '/dh', denyHttp: 'true' })).status, 200);
  t.is((await proxy.get('/dh')).status, 403);
});

test.serial('backends: timeoutServer answers 504 when the service is slower', async (t) => {
  t.is((await add('slow', { servicePath: '/slow', timeoutServer: '1' })).status, 200);
  t.is((await proxy.get('/slow?delay=100')).status, 200);
  const started = Date.now();
  t.is((await proxy.get('/slow?delay=2500')).status, 504);
  t.true(Date.now() - started < 2400);
});

test.serial('backends: compression applies to that service only (docker-flow-proxy applied it to all)', async (t) => {
  t.is((await add('gz', { servicePath: '/gz', compressionAlgo: 'gzip', compressionType: 'application/json' })).status, 200);
  t.is((await add('plain', { servicePath: '/plain' })).status, 200);
  const headers = { 'Accept-Encoding': 'gzip' };
  const gz = await proxy.get('/gz?pad=2000', { headers });
  t.is(gz.headers['content-encoding'], 'gzip');
  const plain = await proxy.get('/plain?pad=2000', { headers });
  t.is(plain.headers['content-encoding'], undefined);
  t.regex(plain.body, /"backend":"a"/);
  t.truthy(zlib);
});

test.serial('backends: connectionMode, timeoutTunnel and backendExtra land in the backend; HAProxy 1.x modes get their HAProxy 2 meaning, unknown ones are a 400', async (t) => {
  t.is((await add('cm', { servicePath: '/cm', connectionMode: 'http-server-close', timeoutTunnel: '120', backendExtra: 'http-response set-header X-Extra on' })).status, 200);
  const r = await proxy.get('/cm');
  t.is(r.headers['x-extra'], 'on');
  const cfg = (await proxy.api('config')).body;
  const backend = cfg.slice(cfg.indexOf('backend cm-be'), cfg.indexOf('\n\n', cfg.indexOf('backend cm-be')));
  t.regex(backend, /option http-server-close/);
  t.regex(backend, /timeout tunnel 120s/);
  // HAProxy 1.x modes HAProxy 2 refuses get their HAProxy 2 meaning, with a warning (docker-flow-proxy passed them on).
  const tunnel = await add('cm2', { servicePath: '/cm2', connectionMode: 'http-tunnel' });
  t.is(tunnel.status, 200, tunnel.body);
  t.regex(String((tunnel.json.Warnings as string[])[0]), /HAProxy 2/);
  t.is(answeredBy(await proxy.get('/cm2')), 'a');
  const unknown = await add('cm3', { servicePath: '/cm3', connectionMode: 'tunnel-please' });
  t.is(unknown.status, 400);
  t.regex(String(unknown.json.Message), /connectionMode "tunnel-please" must be one of/);
});

test.serial('backends: sessionType=sticky-server sets a cookie and keeps the client on its server', async (t) => {
  t.is((await add('sticky', { servicePath: '/sticky', sessionType: 'sticky-server' })).status, 200);
  const first = await proxy.get('/sticky');
  t.is(first.status, 200);
  const cookie = String(first.headers['set-cookie']);
  t.regex(cookie, /^sticky=s-[0-9a-f]{10}/);
  const again = await proxy.get('/sticky', { headers: { Cookie: cookie.split(';')[0] as string } });
  t.is(answeredBy(again), 'a');
});

test.serial('custom templates: a reload for another service is checked with the backend a custom frontend names (it is not left out of the check)', async (t) => {
  fs.writeFileSync(path.join(templates, 'fe-only.hbs'), '{{#each ServiceDest}}    use_backend {{BackendName}} if { path_beg {{ServicePath.[0]}} }\n{{/each}}');
  t.is((await add('custom-fe', { servicePath: '/custom-fe', templateFePath: path.join(templates, 'fe-only.hbs') })).status, 200);
  t.is((await add('plain-next', { servicePath: '/plain-next' })).status, 200);
  // An option change of the other service: a reload, with the custom service unchanged.
  const r = await add('plain-next', { servicePath: '/plain-next', timeoutServer: '9' });
  t.is(r.status, 200, r.body);
  t.is((r.json.Applied as { Kind: string }).Kind, 'reload');
  t.is(answeredBy(await proxy.get('/custom-fe/x')), 'a');
  for (const name of ['custom-fe', 'plain-next']) t.is((await proxy.api('remove', { serviceName: name })).status, 200);
});

test.serial('custom templates: templateFePath/templateBePath with userDef; listed, removable and rolled back', async (t) => {
  fs.writeFileSync(path.join(templates, 'fe.hbs'), '{{#each ServiceDest}}    use_backend {{BackendName}} if { path_beg {{ServicePath.[0]}} }\n{{/each}}');
  fs.writeFileSync(
    path.join(templates, 'be.hbs'),
    '{{#each ServiceDest}}backend {{BackendName}}\n    mode http\n    http-response set-header X-User-Def "{{UserDef}}"\n    server s1 {{OutboundHostname}}:{{Port}}\n{{/each}}',
  );
  const res = await add('custom', { servicePath: '/custom', userDef: 'hello-world', templateFePath: path.join(templates, 'fe.hbs'), templateBePath: path.join(templates, 'be.hbs') });
  t.is(res.status, 200, res.body);
  const r = await proxy.get('/custom/x');
  t.is(answeredBy(r), 'a');
  t.is(r.headers['x-user-def'], 'hello-world');
  const json = (await proxy.api('config', { type: 'json' })).json as Record<string, { TemplateFePath: string }>;
  t.is(json.custom?.TemplateFePath, path.join(templates, 'fe.hbs'));
  // A broken template is rejected and the previous one keeps serving.
  fs.writeFileSync(path.join(templates, 'be-bad.hbs'), 'backend {{ServiceName}}-broken\n    nonsense-directive 1\n');
  const bad = await add('custom', { servicePath: '/custom', templateFePath: path.join(templates, 'fe.hbs'), templateBePath: path.join(templates, 'be-bad.hbs') });
  t.is(bad.status, 400);
  t.regex(String(bad.json.Message), /custom/);
  t.is(answeredBy(await proxy.get('/custom/x')), 'a');
  t.is((await proxy.api('remove', { serviceName: 'custom' })).status, 200);
  t.is((await proxy.get('/custom/x')).status, 503);
  t.false('custom' in (await proxy.api('config', { type: 'json' })).json);
});
