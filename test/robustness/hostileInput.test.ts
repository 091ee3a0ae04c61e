import test from 'ava';
import fc from 'fast-check';
import { DEST_PARAMS, fromEntries, fromLabels, servicesFromEnv, SERVICE_PARAMS, envWord } from '../../src/domain/params.js';
import { parseService } from '../../src/domain/parse.js';
import { cleanLine } from '../../src/domain/haproxyText.js';
import type { ServiceSpec } from '../../src/domain/spec.js';
import { loadSettings } from '../../src/settings.js';
import { baseSettings, parseCtx, render } from '../support/render.js';
import { recordFigure } from '../support/figures.js';
import { MAP_DIR_TOKEN } from '../../src/core/ports.js';
import { issuesStatus } from '../../src/http/errors.js';

// Hostile input, generated: newlines, CR, NUL, comments, quotes, backslashes,
// sample fetches, template braces, very long values, unicode. For every
// parameter, label and environment variable: a value is either refused with a
// 4xx naming it, or it renders into exactly the lines it belongs to.

const pieces = [
  '\n', '\r', '\r\n', '\u0000', '#', '"', "'", '\\', '\\n', '\\x0a', '%[', ']', '{{', '}}', '{', '}', ' ', '\t', ',', ':', ';', '$', '${HOME}',
  '\u2028', '\u0085', '/', '*', '-f', ' -f /etc/passwd', 'lua.x', 'env(X)', '%[env(HOME)]', 'é', '😀', 'if', '||', '!', '(', ')',
  '\nbackend evil\n', '\nfrontend x', ' option http-tunnel', 'http-request', 'x', '/a', '80', 'true', 'web', 'a.test', 'GET', 'u:p',
];
const hostile = fc.oneof(
  { weight: 8, arbitrary: fc.array(fc.oneof(fc.constantFrom(...pieces), fc.string({ maxLength: 4 })), { minLength: 1, maxLength: 7 }).map((p) => p.join('')) },
  { weight: 1, arbitrary: fc.integer({ min: 1000, max: 20_000 }).map((n) => '/'.concat('a'.repeat(n))) },
);

const BASE: Record<string, string> = { serviceName: 'svc', servicePath: '/base', port: '8080', outboundHostname: '127.0.0.1', srcPort: '9000' };

/** The same service with every free-text value replaced by a neutral one of the same shape (list lengths, wildcards, root and .well-known paths kept). */
function neutral(spec: ServiceSpec): ServiceSpec {
  const path = (p: string) => (p === '/' ? '/' : /^\/\.well-known/i.test(p) ? '/.well-known/x' : '/p');
  const domain = (d: string) => (d.startsWith('*') ? '*.d.test' : 'd.test');
  return {
    ...spec,
    serviceName: 'n',
    aclName: 'n',
    ...(spec.backendExtra !== undefined && { backendExtra: 'option forwardfor' }),
    users: spec.users.map((u, i) => ({ ...u, name: `u${i}`, password: 'p' })),
    destinations: spec.destinations.map((d) => ({
      ...d,
      servicePath: d.reqMode === 'sni' ? d.servicePath.map(() => 'sni.test') : d.servicePath.map(path),
      servicePathExclude: d.servicePathExclude.map(() => '/e'),
      serviceDomain: d.serviceDomain.map(domain),
      redirectFromDomain: d.redirectFromDomain.map(domain),
      userAgent: d.userAgent.map(() => 'ua'),
      serviceHeader: d.serviceHeader.map(() => ({ name: 'H', value: 'v' })),
      reqPathSearchReplace: d.reqPathSearchReplace.map(() => ({ search: 's', replace: 'r' })),
      ...(d.outboundHostname !== undefined && { outboundHostname: '127.0.0.1' }),
      ...(d.userDef !== undefined && { userDef: 'u' }),
      ...(d.serviceGroup !== undefined && { serviceGroup: 'g' }),
      headers: {
        addReq: d.headers.addReq.map(() => 'X-N v'),
        setReq: d.headers.setReq.map(() => 'X-N v'),
        delReq: d.headers.delReq.map(() => 'X-N'),
        addRes: d.headers.addRes.map(() => 'X-N v'),
        setRes: d.headers.setRes.map(() => 'X-N v'),
        delRes: d.headers.delRes.map(() => 'X-N'),
      },
    })),
  };
}

/** Rendered lines, with the map directory placeholder replaced as the data plane does. */
function lines(text: string): string[] {
  return text.split(MAP_DIR_TOKEN).join('/data/maps').split('\n');
}

/** The config a spec renders to is well formed line by line, has the lines its neutral twin has, and its maps hold two tokens a line. */
function assertContained(spec: ServiceSpec, label: string): void {
  try {
    checkContained(spec, label);
  } catch (e) {
    // fast-check reports only the counterexample; keep the reason visible.
    console.error((e as Error).message);
    throw e;
  }
}

function checkContained(spec: ServiceSpec, label: string): void {
  const hostileRender = render([spec]).files;
  const neutralRender = render([neutral(spec)]).files;
  const got = lines(hostileRender.config);
  const want = lines(neutralRender.config);
  if (got.length !== want.length) throw new Error(`${label}: ${got.length} lines instead of ${want.length}`);
  got.forEach((line, i) => {
    if (i === 0) return; // the generated-by comment
    const clean = cleanLine(line);
    if (!clean.ok) throw new Error(`${label}: line ${i + 1} is not clean (${clean.reason}): ${JSON.stringify(line)}`);
    const directive = (want[i] as string).trim().split(/\s+/)[0];
    // backendExtra is a raw line by design: its first word is the user's; it must still be one clean line.
    const raw = spec.backendExtra !== undefined && line.trim() === spec.backendExtra.trim();
    if (!raw && line.trim().split(/\s+/)[0] !== directive && !/^(backend|frontend|listen|userlist)$/.test(directive ?? '')) {
      throw new Error(`${label}: line ${i + 1} starts with ${JSON.stringify(line.trim().split(/\s+/)[0])}, expected ${JSON.stringify(directive)}`);
    }
  });
  for (const [file, content] of Object.entries(hostileRender.maps)) {
    for (const l of content.split('\n').filter((x) => x !== '')) {
      if (l.split(' ').length !== 2 || /[\s#]/.test(l.replace(' ', ''))) throw new Error(`${label}: map ${file} line ${JSON.stringify(l)}`);
    }
  }
}

let tried = 0;
let refused = 0;
let accepted = 0;

const params = [...SERVICE_PARAMS, ...DEST_PARAMS].filter((p) => !['serviceCert', 'distribute', 'templateFePath', 'templateBePath', 'usersSecret'].includes(p));

for (const param of params) {
  test(`${param}: a hostile value is refused naming it, or stays in its place`, (t) => {
    const seen = { refused: 0, accepted: 0 };
    fc.assert(
      fc.property(hostile, fc.boolean(), (value, indexed) => {
        tried++;
        const name = indexed && (DEST_PARAMS as readonly string[]).includes(param) ? `${param}.1` : param;
        const query = { ...BASE, ...(name.endsWith('.1') && { 'servicePath.1': '/one', 'port.1': '8081' }), [name]: value };
        const r = parseService(fromEntries(Object.entries(query)).params, parseCtx);
        if (!r.ok) {
          refused++;
          seen.refused++;
          if (![400, 409].includes(issuesStatus(r.issues))) throw new Error('not a 4xx');
          const text = r.issues.map((i) => `${i.param} ${i.message}`).join(' ').toLowerCase();
          const mentioned = [param, name].some((n) => text.includes(n.toLowerCase()));
          // A reqMode value can make srcPort/port mandatory; the message then names those.
          if (!mentioned && !(param === 'reqMode' && /srcport|port/.test(text))) throw new Error(`refusal does not name ${name}: ${text}`);
          return;
        }
        accepted++;
        seen.accepted++;
        assertContained(r.spec, `${name}=${JSON.stringify(value).slice(0, 80)}`);
      }),
      { numRuns: 150 },
    );
    // Every generated value was judged one way or the other (fast-check ran them all).
    t.is(seen.refused + seen.accepted, 150);
  });
}

test('labels go through the same parser: hostile com.df.* values are refused or contained', (t) => {
  const seen = { refused: 0, accepted: 0 };
  fc.assert(
    fc.property(fc.constantFrom(...params), hostile, (param, value) => {
      tried++;
      const labels = Object.fromEntries(Object.entries({ ...BASE, [param]: value }).map(([k, v]) => [`com.df.${k}`, v]));
      const raw = fromLabels(labels);
      const r = parseService(raw.params, parseCtx);
      if (!r.ok) {
        refused++;
        seen.refused++;
        return;
      }
      accepted++;
      seen.accepted++;
      assertContained(r.spec, `label com.df.${param}`);
    }),
    { numRuns: 400 },
  );
  t.is(seen.refused + seen.accepted, 400);
  t.true(seen.accepted > 0 && seen.refused > 0, `hostile labels should be both refused and contained: ${JSON.stringify(seen)}`);
});

test('DFP_SERVICE_* variables go through the same parser', (t) => {
  const seen = { refused: 0, accepted: 0 };
  fc.assert(
    fc.property(fc.constantFrom(...params), hostile, (param, value) => {
      tried++;
      const env = Object.fromEntries(Object.entries({ ...BASE, [param]: value }).map(([k, v]) => [`DFP_SERVICE_${envWord(k)}`, v]));
      const [raw] = servicesFromEnv(env);
      if (!raw) throw new Error('no service read');
      const r = parseService(raw.params, parseCtx);
      if (!r.ok) {
        refused++;
        seen.refused++;
        return;
      }
      accepted++;
      seen.accepted++;
      assertContained(r.spec, `env ${param}`);
    }),
    { numRuns: 400 },
  );
  t.is(seen.refused + seen.accepted, 400);
  t.true(seen.accepted > 0 && seen.refused > 0, `hostile DFP_SERVICE_* values should be both refused and contained: ${JSON.stringify(seen)}`);
});

const ENV_VARS = [
  'DEFAULT_PORTS', 'BIND_PORTS', 'CONNECTION_MODE', 'TIMEOUT_CONNECT', 'TIMEOUT_CLIENT', 'TIMEOUT_SERVER', 'TIMEOUT_QUEUE', 'TIMEOUT_TUNNEL',
  'TIMEOUT_HTTP_REQUEST', 'TIMEOUT_HTTP_KEEP_ALIVE', 'SERVICE_DOMAIN_ALGO', 'SEPARATOR', 'EXTRA_GLOBAL', 'EXTRA_FRONTEND', 'STATS_USER',
  'STATS_PASS', 'STATS_URI', 'STATS_PORT', 'DEBUG', 'USERS', 'USERS_PASS_ENCRYPTED', 'HTTPS_ONLY', 'CAPTURE_REQUEST_HEADER',
  'COMPRESSION_ALGO', 'COMPRESSION_TYPE', 'CHECK_RESOLVERS', 'RESOLVERS', 'CA_FILE', 'PREFERRED_CERTIFICATE', 'ENABLE_H2',
  'SSL_BIND_OPTIONS', 'SSL_BIND_CIPHERS', 'ROUTE_ORDER', 'HARD_STOP_AFTER', 'MWORKER_MAX_RELOADS', 'SPARE_BACKENDS', 'MAXCONN', 'NBTHREAD',
  'DEBUG_HTTP_FORMAT', 'DEBUG_TCP_FORMAT', 'API_TOKEN', 'PEERS', 'LOG_LEVEL', 'SERVICE_NAME', 'PORT', 'IP', 'DEFAULT_PROTOCOL',
];

test('environment variables: a hostile value is refused naming it, or every rendered line stays clean', (t) => {
  const seen = { refused: 0, accepted: 0 };
  const service = parseService(fromEntries(Object.entries(BASE)).params, parseCtx);
  if (!service.ok) throw new Error('base service');
  fc.assert(
    fc.property(fc.constantFrom(...ENV_VARS), hostile, (name, value) => {
      tried++;
      const result = loadSettings({ PATH: process.env.PATH, [name]: value, STATS_USER: name === 'STATS_PASS' ? 'admin' : undefined, STATS_PASS: name === 'STATS_USER' ? 'pw' : undefined, DEBUG: name.startsWith('DEBUG_') ? 'true' : undefined });
      if (!result.ok) {
        refused++;
        seen.refused++;
        if (!result.errors.some((e) => e.includes(name))) throw new Error(`${name}: errors do not name it: ${result.errors.join(' ')}`);
        return;
      }
      accepted++;
      seen.accepted++;
      const s = result.settings;
      const settings = baseSettings({
        defaultPorts: s.defaultPorts, bindPorts: s.bindPorts, connectionMode: s.connectionMode, timeouts: s.timeouts, extraGlobal: s.extraGlobal,
        extraFrontend: s.extraFrontend, ...(s.stats && { stats: s.stats }), debug: s.debug, users: s.users, captureRequestHeaders: s.captureRequestHeaders,
        ...(s.compression && { compression: s.compression }), resolvers: s.resolvers, sslBindOptions: s.sslBindOptions, sslBindCiphers: s.sslBindCiphers,
        ...(s.caFile !== undefined && { caFile: s.caFile }), enableH2: s.enableH2, hardStopAfter: s.hardStopAfter, maxReloads: s.maxReloads,
        routeOrder: s.routeOrder, maxconn: s.maxconn, ...(s.nbthread !== undefined && { nbthread: s.nbthread }),
        ...(s.debugHttpFormat !== undefined && { debugHttpFormat: s.debugHttpFormat }), ...(s.debugTcpFormat !== undefined && { debugTcpFormat: s.debugTcpFormat }),
      });
      const text = render([service.spec], settings, true).files.config;
      const bad = lines(text).slice(1).map((l, i) => [i + 2, l, cleanLine(l)] as const).find(([, , c]) => !c.ok);
      if (bad) throw new Error(`${name}=${JSON.stringify(value)}: line ${bad[0]} ${JSON.stringify(bad[1])}: ${bad[2].reason}`);
      // Every line is where its section puts it: sections start at column 0, everything else is indented.
      const stray = lines(text).slice(1).find((l) => l !== '' && !/^ {4}\S/.test(l) && !/^(global|defaults( fp_base| fp_std from fp_base| from fp_base)?|resolvers docker|http-errors fp_errors|frontend \S+|backend \S+( from fp_std)?|listen \S+|userlist \S+)$/.test(l));
      if (stray) throw new Error(`${name}=${JSON.stringify(value)}: stray line ${JSON.stringify(stray)}`);
    }),
    { numRuns: 1500 },
  );
  t.is(seen.refused + seen.accepted, 1500);
  t.true(seen.accepted > 0 && seen.refused > 0, `hostile settings should be both refused and rendered clean: ${JSON.stringify(seen)}`);
});

test.after.always('figures', () => {
  recordFigure('hostile-input', { valuesTried: tried, refused, acceptedAndContained: accepted });
});
