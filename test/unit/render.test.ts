import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { checkConfig } from '../../src/adapters/haproxy/check.js';
import { MAP_DIR_TOKEN } from '../../src/core/ports.js';
import { loadTemplateSources } from '../../src/adapters/templates.js';
import { renderFiles } from '../../src/core/apply/files.js';
import { compileTemplates } from '../../src/render/render.js';
import { ROOT } from '../support/flowProxy.js';
import { baseSettings, render, svc, writeConfig } from '../support/render.js';

const GOLDEN = path.join(ROOT, 'test', 'golden');
const local = 'outboundHostname=127.0.0.1';

/** Golden cases: name, services, settings. Set UPDATE_GOLDEN=1 to rewrite the files after a deliberate change. */
const cases: Array<[string, string[], Parameters<typeof baseSettings>[0]?]> = [
  ['paths-and-domains', [
    `serviceName=web&servicePath=/web,/w&port=8080&${local}`,
    `serviceName=api&servicePath=/api&serviceDomain=api.test,*.api.test&port=9000&${local}`,
    `serviceName=site&serviceDomain=site.test&port=80&${local}`,
    `serviceName=excl&servicePath=/ex&servicePathExclude=/ex/private&port=81&${local}`,
    `serviceName=acme&servicePath=/.well-known/acme-challenge&port=82&${local}`,
  ]],
  ['backend-options', [
    `serviceName=opts&servicePath=/o&port=8080&${local}&httpsOnly=true&httpsRedirectCode=301&connectionMode=http-server-close&timeoutServer=60&timeoutTunnel=0&allowedMethods=GET,POST&denyHttp=true&users=bob:pw&addReqHeader=X-A 1&setResHeader=Strict-Transport-Security "max-age=31536000"&delReqHeader=X-Drop&reqPathSearchReplace=/o/,/&compressionAlgo=gzip&compressionType=text/html text/plain&backendExtra=http-response set-header X-Extra 1`,
    `serviceName=sticky&servicePath=/s&port=8080&${local}&sessionType=sticky-server`,
  ]],
  ['tcp-and-sni', [
    `serviceName=db&reqMode=tcp&srcPort=5432&port=5432&${local}&clitcpka=true&timeoutClient=30&checkTcp=true`,
    `serviceName=tls&reqMode=sni&srcPort=8443&port=443&serviceDomain=secure.test&${local}`,
  ]],
  ['acl-order', [
    `serviceName=api&servicePath=/api&port=1&${local}`,
    `serviceName=api-v2&servicePath=/api/v2&port=2&${local}`,
  ], { routeOrder: 'acl' }],
  ['global-settings', [`serviceName=web&servicePath=/&port=8080&${local}`], {
    stats: { user: 'admin', pass: 'statspass', uri: '/admin?stats' },
    users: [{ name: 'root', password: 'rootpw', encrypted: false }],
    compression: { algo: 'gzip' },
    captureRequestHeaders: [{ name: 'Host', length: 15 }],
    extraGlobal: ['tune.bufsize 32768'],
    extraFrontend: ['http-request set-header X-Via flow-proxy'],
    debug: true,
  }],
];

for (const [name, queries, over] of cases) {
  test(`renders ${name} as the golden file, and HAProxy accepts it`, async (t) => {
    const { files } = render(queries.map((q) => svc(q)), baseSettings(over));
    const normalised = files.config.split(ROOT).join('<root>').split(MAP_DIR_TOKEN).join('<maps>');
    const maps = Object.entries(files.maps).filter(([, c]) => c !== '').map(([f, c]) => `# ${f}\n${c}`).join('');
    const text = `${normalised}\n# ---- maps ----\n${maps}`;
    const file = path.join(GOLDEN, `${name}.cfg`);
    if (process.env.UPDATE_GOLDEN === '1') fs.writeFileSync(file, text);
    // A missing golden file is a failure: writing it here would make the test pass without comparing anything.
    t.true(fs.existsSync(file), `golden file ${name}.cfg is missing; run with UPDATE_GOLDEN=1 to create it, then review it`);
    if (!fs.existsSync(file)) return;
    t.is(text, fs.readFileSync(file, 'utf8'));
    const check = await checkConfig('haproxy', writeConfig(files));
    t.true(check.ok, check.output);
  });
}

test('secrets are rendered strongly quoted and only inside the userlist', (t) => {
  const { files } = render([svc(`serviceName=a&servicePath=/a&port=1&${local}&users=u:p@ss$word`)]);
  const lines = files.config.split('\n').filter((l) => l.includes('p@ss$word'));
  t.deepEqual(lines, ["    user u insecure-password 'p@ss$word'"]);
});

test('owners of each line point back to the service', (t) => {
  const { files, owners } = render([svc(`serviceName=a&servicePath=/a&port=1&${local}&backendExtra=http-request deny`)]);
  const index = files.config.split('\n').findIndex((l) => l.trim() === 'http-request deny');
  t.deepEqual(owners[index], ['a']);
});

test('a plain new service fits a spare backend: same structure, no reload needed', (t) => {
  const first = render([svc(`serviceName=a&servicePath=/a&port=1&${local}`)]);
  const next = render([svc(`serviceName=a&servicePath=/a&port=1&${local}`), svc(`serviceName=b&servicePath=/b&port=2&${local}`)], baseSettings(), false, first.model.layout);
  t.is(next.model.structure.value, first.model.structure.value);
  t.is(next.model.maps.pathPrefix.find((e) => e.key === '/b')?.backend, '_spare_1');
});

test('a service with options of its own needs a new structure', (t) => {
  const first = render([svc(`serviceName=a&servicePath=/a&port=1&${local}`)]);
  const next = render([svc(`serviceName=a&servicePath=/a&port=1&${local}`), svc(`serviceName=b&servicePath=/b&port=2&${local}&httpsOnly=true`)], baseSettings(), false, first.model.layout);
  t.not(next.model.structure.value, first.model.structure.value);
});

test('scaling servers keeps the structure, and every server its name, whatever its position', (t) => {
  const one = svc(`serviceName=a&servicePath=/a&port=1`);
  const withServers = (hosts: string[]) => ({ ...one, servers: hosts.map((h) => ({ host: h, id: h })) });
  const first = render([withServers(['10.0.0.1', '10.0.0.2'])]);
  const next = render([withServers(['10.0.0.2', '10.0.0.3', '10.0.0.4'])], baseSettings(), false, first.model.layout);
  t.is(next.model.structure.value, first.model.structure.value);
  const before = new Map(first.model.layout.backends.get('a-be1_0')?.view.servers.map((s) => [s.host, s.name]));
  const after = new Map(next.model.layout.backends.get('a-be1_0')?.view.servers.map((s) => [s.host, s.name]));
  t.is(after.get('10.0.0.2'), before.get('10.0.0.2'), 'the surviving server keeps its name');
  t.not(after.get('10.0.0.3'), before.get('10.0.0.1'), 'a removed server\'s name never passes to a new one');
  t.is(new Set(after.values()).size, 3);
  // A fresh render (a reload, a restart) names them the same way.
  const fresh = render([withServers(['10.0.0.4', '10.0.0.3', '10.0.0.2'])]);
  const sorted = (m: Map<string, string>) => [...m].sort(([x], [y]) => (x < y ? -1 : 1));
  t.deepEqual(sorted(new Map(fresh.model.layout.backends.get('a-be1_0')?.view.servers.map((s) => [s.host, s.name]))), sorted(after));
});

test('HAProxy\'s internal HTTP client skips the system CA store unless EXTRA_GLOBAL loads Lua or configures that client', (t) => {
  const services = [svc(`serviceName=web&servicePath=/&port=8080&${local}`)];
  t.regex(render(services).files.config, /^ {4}httpclient\.ssl\.verify none$/m);
  for (const extraGlobal of [['lua-load /etc/haproxy/auth.lua'], ['httpclient.ssl.ca-file /etc/ssl/certs/ca-certificates.crt']]) {
    const config = render(services, baseSettings({ extraGlobal })).files.config;
    t.notRegex(config, /httpclient\.ssl\.verify none/, extraGlobal[0]);
    t.true(config.includes(`    ${extraGlobal[0]}\n`));
  }
});

test('plain HTTP backends use the shared defaults; one with options of its own, and any under a main template without fp_std, write every option', async (t) => {
  const services = [svc('serviceName=plain&servicePath=/p&port=80'), svc('serviceName=own&servicePath=/o&port=80&healthCheck=false&retryMethods=GET')];
  const { model, files } = render(services);
  const section = (config: string, owner: string) => config.split('\n\n').find((b) => b.startsWith('backend ') && b.includes(`${owner}-be80`)) ?? '';
  t.regex(section(files.config, 'plain'), /^backend plain-be80_0 from fp_std\n    mode http\n    server s-\w+ plain:80\n?$/);
  t.regex(section(files.config, 'own'), /^backend own-be80_0\n[\s\S]*http-request disable-l7-retry unless \{ method GET \}\n    server s-\w+ own:80 pool-max-conn -1 pool-purge-delay 5s( |\n|$)/);
  t.regex(files.config, /^defaults fp_std from fp_base\n    default-server init-addr last,libc,none pool-max-conn -1 pool-purge-delay 5s check inter /m);
  t.true((await checkConfig('haproxy', writeConfig(files))).ok, 'HAProxy accepts it');
  // A main template of the user's (CFG_TEMPLATE_PATH) that knows nothing of fp_std.
  const sources = loadTemplateSources(path.join(ROOT, 'templates'));
  const custom = compileTemplates({ ...sources, main: sources.main.replace(/defaults fp_std from fp_base[\s\S]*?\{\{\/if\}\}\n/, '').replace('defaults from fp_base\n', '').replace('defaults fp_base\n', 'defaults\n') });
  const own = renderFiles(custom, model).files.config;
  t.notRegex(own, /fp_std/);
  t.regex(section(own, 'plain'), /^backend plain-be80_0\n    mode http\n    http-request disable-l7-retry unless \{ method GET HEAD OPTIONS \}\n    server s-\w+ plain:80 pool-max-conn -1 pool-purge-delay 5s check inter /);
  t.true((await checkConfig('haproxy', writeConfig(renderFiles(custom, model).files))).ok, 'HAProxy accepts that one too');
});

// The text written for HAProxy (no owners asked for) is put together from each backend's cached plain text; it must be
// exactly the marked render with its markers taken out, for our templates and for a user's that write the backends
// themselves (from renderedBackends) or whose backend partial is not one owned block.
test('the plain render is the marked render without its markers, whatever the templates write', (t) => {
  const services = [...cases.flatMap(([, queries]) => queries.map((q) => svc(q))).filter((s, i, all) => all.findIndex((o) => o.serviceName === s.serviceName) === i)];
  const settings = baseSettings({ spareBackends: 3 });
  const model = render(services, settings).model;
  const sources = loadTemplateSources(path.join(ROOT, 'templates'));
  const variants: Array<[string, typeof sources]> = [
    ['our templates', sources],
    ['a main template that loops over renderedBackends', { ...sources, main: sources.main.replace('{{{backendsText}}}', '{{#each renderedBackends}}\n\n{{{this}}}{{/each}}') }],
    ['backendsText written twice', { ...sources, main: `${sources.main}\n# again\n{{{backendsText}}}\n` }],
    ['an owned block right after backendsText', { ...sources, main: sources.main.replace('{{{backendsText}}}\n', '{{{backendsText}}}{{#owned "x"}}\n# tail\n{{/owned}}') }],
    ['backendsText tested', { ...sources, main: sources.main.replace('{{{backendsText}}}\n', '{{#if backendsText}}{{{backendsText}}}\n{{else}}# no backend\n{{/if}}') }],
    ['a backend partial with a block of its own inside', { ...sources, partials: { ...sources.partials, backend: `# before\n${sources.partials.backend as string}{{#owned name}}\n    # inner\n{{/owned}}` } }],
    ['a backend partial without owners', { ...sources, partials: { ...sources.partials, backend: (sources.partials.backend as string).replace(/\{\{#owned owner\}\}\n|\{\{\/owned\}\}\n?/g, '') } }],
  ];
  const MARKER_LINE = /^\u0000[^\n]*\n/gm;
  // And a config with no backend at all (no service, no spare).
  const empty = render([], baseSettings({ spareBackends: 0 })).model;
  for (const [name, variant] of variants) {
    const compiled = compileTemplates(variant);
    const marked = compiled(model.view);
    t.true(marked.includes('backend '), name);
    t.is(compiled.plain(model.view), marked.replace(MARKER_LINE, ''), name);
    t.is(compiled.plain(empty.view), compiled(empty.view).replace(MARKER_LINE, ''), `${name}, no backend`);
    // Twice: the second comes from the cache of backend texts.
    t.is(renderFiles(compiled, model, false).files.config, renderFiles(compiled, model, true).files.config, name);
    t.is(renderFiles(compiled, model, false).files.config, renderFiles(compiled, model, true).files.config, name);
  }
  // Our templates write every backend once, each after a blank line.
  const text = compileTemplates(sources).plain(model.view);
  const lines = text.split('\n');
  for (const b of model.view.backends) {
    const at = lines.flatMap((l, i) => (l === `backend ${b.name}` || l.startsWith(`backend ${b.name} `) ? [i] : []));
    t.is(at.length, 1, b.name);
    t.is(lines[(at[0] as number) - 1], '', b.name);
  }
});
