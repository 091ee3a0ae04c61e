import test from 'ava';
import { fromEntries, fromLabels, servicesFromEnv } from '../../src/domain/params.js';
import { parseService, type ParseContext } from '../../src/domain/parse.js';
import type { ServiceSpec } from '../../src/domain/spec.js';
import { issuesStatus } from '../../src/http/errors.js';

const ctx: ParseContext = {
  separator: ',',
  httpsOnly: false,
  globalUsers: [{ name: 'admin', password: 'globalpass', encrypted: false }],
  userSecrets: new Map([['team', 'alice:wonder\ncarol:x']]),
  allowRawSnippets: false,
  templateDirs: ['/templates'],
};

function parse(query: string, c: ParseContext = ctx) {
  return parseService(fromEntries(new URLSearchParams(query)).params, c);
}

function spec(query: string, c: ParseContext = ctx): ServiceSpec {
  const r = parse(query, c);
  if (!r.ok) throw new Error(r.issues.map((i) => i.message).join(' '));
  return r.spec;
}

// [query, expected status, message fragment]
const errors: Array<[string, 400 | 409, RegExp]> = [
  ['servicePath=/a&port=80', 400, /serviceName parameter is mandatory/],
  ['serviceName=a&servicePath=/a', 400, /port query is mandatory/],
  ['serviceName=a&port=80', 409, /servicePath or serviceDomain are mandatory/],
  ['serviceName=a', 409, /servicePath or serviceDomain are mandatory/],
  ['serviceName=a&reqMode=tcp&port=80', 400, /srcPort and port parameters are mandatory/],
  ['serviceName=a&reqMode=tcp&srcPort=80', 400, /srcPort and port parameters are mandatory/],
  ['serviceName=a&servicePath=/a&port=abc', 400, /port "abc" is not a port number/],
  ['serviceName=a&servicePath=/a&port=70000', 400, /port "70000"/],
  ['serviceName=a b&servicePath=/a&port=80', 400, /serviceName "a b"/],
  ['serviceName=a&servicePath=/a&port=80&reqMode=udp', 400, /reqMode "udp"/],
  ['serviceName=a&servicePath=/a&port=80&httpsRedirectCode=300', 400, /httpsRedirectCode "300"/],
  ['serviceName=a&servicePath=/a&port=80&timeoutServer=-1', 400, /timeoutServer "-1"/],
  // docker-flow-proxy rendered `timeout server abcs`, failed haproxy -c with a 500 and dropped the service: refused here.
  ['serviceName=a&servicePath=/a&port=80&timeoutServer=abc', 400, /timeoutServer "abc" is not a non-negative whole number/],
  ['serviceName=a&servicePath=/a&port=80&connectionMode=tunnel', 400, /connectionMode "tunnel" must be one of/],
  // A refused path has its own message, not also "servicePath or serviceDomain are mandatory" (issue 15).
  ['serviceName=a&servicePath=/bad%0Aglobal&port=80', 400, /^servicePath "\/bad\\x0aglobal" contains a newline or control character\.$/],
  ['serviceName=a&servicePath=/a&port=80&serviceDomain=a..b', 400, /serviceDomain "a..b"/],
  ['serviceName=a&servicePath=/a&port=80&serviceDomain=a.*.b', 400, /serviceDomain/],
  ['serviceName=a&servicePath=/a&port=80&usersSecret=nope', 400, /usersSecret "nope" has no secret file/],
  ['serviceName=a&servicePath=/a&port=80&templateBePath=/etc/passwd', 400, /templateBePath "\/etc\/passwd" must be a file inside \/templates/],
  ['serviceName=a&servicePath=/a&port=80&templateBePath=/templates/../etc/passwd', 400, /templateBePath/],
  ['serviceName=a&servicePath=/a&port=80&discoveryType=MDNS', 400, /discoveryType/],
  ['serviceName=a&servicePath=/a&port=80&allowedMethods=get', 400, /allowedMethods "get"/],
  ['serviceName=a&servicePath=/a&port=80&serviceHeader=X-Only', 400, /serviceHeader "X-Only"/],
  ['serviceName=a&servicePath=/a&port=80&reqPathSearchReplace=nocomma', 400, /reqPathSearchReplace "nocomma"/],
  ['serviceName=a&servicePath=/a&port=80&reqPathSearchReplace=/a,"b"', 400, /reqPathSearchReplace/],
  ['serviceName=a&servicePath=/a&port=80&backendExtra=acl x path_beg -f /etc/hosts', 400, /backendExtra .*-f/],
  ['serviceName=a&servicePath=/a&port=80&setResHeader=X-Env "$HOME"', 400, /setResHeader .*environment/],
  ['serviceName=a&servicePath=/a&port=80&addReqHeader=X-A \\x0a', 400, /addReqHeader .*line break/],
  ['serviceName=a&servicePath=/a&port=80&pathType=path_beg -m reg -f x', 400, /pathType/],
  ['serviceName=a&servicePath=/a&port=80&serviceDomainAlgo=lua.x', 400, /serviceDomainAlgo/],
  ['serviceName=a&servicePath=/a&port=80&compressionAlgo=brotli', 400, /compressionAlgo/],
  ['serviceName=a&servicePath=/a&port=80&balanceGroup=evil', 400, /balanceGroup/],
];

for (const [query, status, message] of errors) {
  test(`rejects ${query} with ${status}`, (t) => {
    const r = parse(query);
    t.false(r.ok);
    if (r.ok) return;
    t.is(issuesStatus(r.issues), status);
    t.regex(r.issues.map((i) => i.message).join(' '), message);
  });
}

test('every problem is reported at once', (t) => {
  const r = parse('serviceName=a&servicePath=/a&port=abc&reqMode=udp&timeoutServer=x');
  t.false(r.ok);
  if (!r.ok) t.deepEqual(r.issues.map((i) => i.param).sort(), ['port', 'reqMode', 'timeoutServer']);
});

// Values docker-flow-proxy tolerated in real stacks: accepted with its effective meaning and a warning naming
// the parameter and the value. [query, what the spec must say, warning]
const tolerated: Array<[string, (s: ServiceSpec) => boolean, RegExp]> = [
  ['serviceName=a&servicePath=/a&port=80&httpsOnly=yes', (s) => s.destinations[0]?.httpsOnly === false, /^httpsOnly "yes" is not a boolean \(use true or false\); read as false, as docker-flow-proxy did\.$/],
  ['serviceName=a&servicePath.1=/a&port.1=80&denyHttp.1=on', (s) => s.destinations[0]?.denyHttp === false, /denyHttp\.1 "on" is not a boolean/],
  ['serviceName=a&servicePath=/a&port=80&isDefaultBackend=enabled', (s) => s.isDefaultBackend === false, /isDefaultBackend "enabled"/],
  ['serviceName=a&servicePath=/a&port=80&sessionType=sticky', (s) => s.sessionType === undefined, /sessionType "sticky" is not a session type.*ignored/],
  ['serviceName=a&servicePath=/a&port=80&connectionMode=http-tunnel', (s) => s.connectionMode === undefined, /connectionMode "http-tunnel" is an HAProxy 1\.x mode.*the default mode/],
  ['serviceName=a&servicePath=/a&port=80&connectionMode=forceclose', (s) => s.connectionMode === 'httpclose', /connectionMode "forceclose" .*httpclose/],
  ['serviceName=a&servicePth=/a&servicePath=/a&port=80', (s) => s.destinations[0]?.servicePath[0] === '/a', /^servicepth is not a parameter flow-proxy knows; ignored\.$/],
  ['serviceName=a&servicePath=api&port=80', (s) => s.destinations[0]?.servicePath[0] === 'api', /servicePath "api" does not start with "\/"/],
];

for (const [query, effective, message] of tolerated) {
  test(`accepts ${query} with docker-flow-proxy's meaning and a warning`, (t) => {
    const r = parse(query);
    t.true(r.ok, r.ok ? '' : r.issues.map((i) => i.message).join(' '));
    if (!r.ok) return;
    t.true(effective(r.spec), JSON.stringify(r.spec));
    t.is(r.warnings.length, 1, JSON.stringify(r.warnings));
    t.regex(r.warnings[0]?.message ?? '', message);
  });
}

test('parameters of other tools (docker-flow-monitor, docker-flow-letsencrypt, the listener) are accepted without a warning', (t) => {
  const r = parse('serviceName=a&servicePath=/a&port=80&scrapePort=9100&alertName.1=mem&alertIf.1=@service_mem_limit:0.8&letsencrypt.host=a.com&letsencrypt.email=x@a.com&nodeInfo=[]&shortName=true&xForwardedProto=true&distribute=true&replicas=2');
  t.true(r.ok);
  if (r.ok) t.deepEqual(r.warnings, []);
});

test('a parameter given twice keeps its first value, as docker-flow-proxy did, and says so', (t) => {
  // docker-flow-swarm-listener appends its parameters to a notify URL that may carry a query of its own.
  const raw = fromEntries([['serviceName', 'a'], ['distribute', 'false'], ['port', '80'], ['distribute', 'true']]);
  t.deepEqual(raw.issues, []);
  t.is(raw.params.get('distribute'), 'false');
  t.is(raw.warnings?.length, 1);
  t.regex(raw.warnings?.[0]?.message ?? '', /^parameter distribute is given more than once \("false" and "true"\); the first value is used, as docker-flow-proxy did\.$/);
  t.deepEqual(fromEntries([['port', '80'], ['port', '80']]).warnings, [], 'the same value twice is no news');
  const secret = fromEntries([['users', 'a:secret1'], ['users', 'a:secret2']]);
  t.false(JSON.stringify(secret.warnings).includes('secret'), 'a repeated password is not echoed');
});

test('parameter names are case-insensitive and old aliases work', (t) => {
  const s = spec('SERVICENAME=a&ServicePath=/a&PORT=80&addHeader=X-A 1&setHeader=X-B 2');
  t.is(s.serviceName, 'a');
  t.deepEqual(s.destinations[0]?.headers.addReq, ['X-A 1']);
  t.deepEqual(s.destinations[0]?.headers.setReq, ['X-B 2']);
});

test('defaults: aclName is serviceName, pathType path_beg, reqMode http', (t) => {
  const s = spec('serviceName=web&servicePath=/web&port=8080');
  t.is(s.aclName, 'web');
  t.false(s.aclNameExplicit);
  const d = s.destinations[0];
  t.is(d?.pathType, 'path_beg');
  t.is(d?.reqMode, 'http');
  t.is(d?.port, 8080);
  t.is(d?.index, 0);
});

test('a domain without a path gets the path /', (t) => {
  t.deepEqual(spec('serviceName=a&serviceDomain=A.example.com&port=80').destinations[0]?.servicePath, ['/']);
  t.deepEqual(spec('serviceName=a&serviceDomain=A.example.com&port=80').destinations[0]?.serviceDomain, ['a.example.com']);
});

test('indexed destinations: plain values are defaults, the first gap ends the list', (t) => {
  const s = spec('serviceName=a&port=80&servicePath.1=/one&servicePath.2=/two&port.2=81&httpsOnly=true&servicePath.4=/four');
  t.deepEqual(s.destinations.map((d) => [d.index, d.servicePath[0], d.port, d.httpsOnly]), [
    [1, '/one', 80, true],
    [2, '/two', 81, true],
  ]);
});

test('lists split on SEPARATOR; quoted parts and %[...] keep the separator (docker-flow-proxy #333)', (t) => {
  const s = spec('serviceName=a&servicePath=/a&port=80&setReqHeader=X-Cert %[ssl_c_der,base64],X-Two "a,b"&servicePath.1=/x');
  t.deepEqual(s.destinations[0]?.headers.setReq, ['X-Cert %[ssl_c_der,base64]', 'X-Two "a,b"']);
  const semi = spec('serviceName=a&servicePath=/a;/b&port=80', { ...ctx, separator: ';' });
  t.deepEqual(semi.destinations[0]?.servicePath, ['/a', '/b']);
});

test('HTTPS_ONLY and httpsOnly apply to every destination', (t) => {
  const s = spec('serviceName=a&servicePath.1=/a&port.1=80&servicePath.2=/b&port.2=81', { ...ctx, httpsOnly: true });
  t.true(s.destinations.every((d) => d.httpsOnly));
});

test('users: pairs as given, missing passwords from the secret or USERS, none resolving denies all', (t) => {
  t.deepEqual(spec('serviceName=a&servicePath=/a&port=80&users=bob:pw:with:colons').users, [{ name: 'bob', password: 'pw:with:colons', encrypted: false }]);
  t.deepEqual(spec('serviceName=a&servicePath=/a&port=80&users=ADMIN').users, [{ name: 'ADMIN', password: 'globalpass', encrypted: false }]);
  t.deepEqual(spec('serviceName=a&servicePath=/a&port=80&usersSecret=team').users.map((u) => u.name), ['alice', 'carol']);
  t.deepEqual(spec('serviceName=a&servicePath=/a&port=80&users=carol&usersSecret=team').users, [{ name: 'carol', password: 'x', encrypted: false }]);
  const denied = spec('serviceName=a&servicePath=/a&port=80&users=ghost');
  t.deepEqual(denied.users, []);
  t.true(denied.usersDenyAll);
  t.true(spec('serviceName=a&servicePath=/a&port=80&users=bob:$6$abc&usersPassEncrypted=true').users[0]?.encrypted);
});

test('secrets never appear in messages', (t) => {
  const r = parse("serviceName=a&servicePath=/a&port=80&users=bob:s3cr'et");
  t.false(r.ok);
  if (!r.ok) t.notRegex(JSON.stringify(r.issues), /s3cr/);
});

test('reqPathSearchReplace pairs and the deprecated reqPathSearch/reqPathReplace', (t) => {
  t.deepEqual(spec('serviceName=a&servicePath=/a&port=80&reqPathSearchReplace=/a/,/:^/x,/y').destinations[0]?.reqPathSearchReplace, [
    { search: '/a/', replace: '/' },
    { search: '^/x', replace: '/y' },
  ]);
  t.deepEqual(spec('serviceName=a&servicePath=/a&port=80&reqPathSearch=/a&reqPathReplace=').destinations[0]?.reqPathSearchReplace, [{ search: '/a', replace: '' }]);
});

test('serviceDomainMatchAll switches to hdr_dom(host); SERVICE_DOMAIN_ALGO is the default algo', (t) => {
  t.is(spec('serviceName=a&serviceDomain=a.com&port=80&serviceDomainMatchAll=true').serviceDomainAlgo, 'hdr_dom(host)');
  t.is(spec('serviceName=a&serviceDomain=a.com&port=80', { ...ctx, serviceDomainAlgo: 'hdr_beg(host)' }).serviceDomainAlgo, 'hdr_beg(host)');
  t.is(spec('serviceName=a&serviceDomain=a.com&port=80').serviceDomainAlgo, undefined);
});

test('sni destinations default to an exact, case-insensitive SNI match', (t) => {
  const d = spec('serviceName=a&reqMode=sni&srcPort=8443&port=443&serviceDomain=secure.test').destinations[0];
  t.is(d?.pathType, 'req_ssl_sni -i');
  t.is(d?.reqMode, 'sni');
});

test('replicas and distribute', (t) => {
  const r = parse('serviceName=a&servicePath=/a&port=80&replicas=0&distribute=true');
  t.true(r.ok);
  if (r.ok) {
    t.is(r.spec.replicas, 0);
    t.true(r.options.distribute);
  }
});

test('stored parameters are canonical and exclude per-request ones', (t) => {
  const s = spec('SERVICENAME=a&servicepath=/a&port=80&distribute=true&servicePath.1=/b&port.1=81');
  t.deepEqual(s.params, { port: '80', 'port.1': '81', serviceName: 'a', servicePath: '/a', 'servicePath.1': '/b' });
});

test('labels map to the same parameters', (t) => {
  const raw = fromLabels({ 'com.df.notify': 'true', 'com.df.serviceName': 'web', 'com.df.servicePath.1': '/w', 'com.df.port.1': '80', 'com.docker.compose.service': 'web' });
  const r = parseService(raw.params, ctx);
  t.true(r.ok);
  if (r.ok) t.deepEqual(r.spec.destinations[0]?.servicePath, ['/w']);
});

test('env services: plain, numbered and indexed variables', (t) => {
  const raws = servicesFromEnv({
    DFP_SERVICE_SERVICE_NAME: 'a',
    DFP_SERVICE_SERVICE_PATH: '/a',
    DFP_SERVICE_PORT: '80',
    DFP_SERVICE_1_SERVICE_NAME: 'b',
    DFP_SERVICE_1_SERVICE_PATH_1: '/b1',
    DFP_SERVICE_1_PORT_1: '81',
    DFP_SERVICE_1_ACL_NAME: 'bee',
    DFP_SERVICE_3_SERVICE_NAME: 'skipped-after-gap',
    OTHER: 'x',
  });
  t.deepEqual(raws.map((r) => r.params.get('servicename')), ['a', 'b']);
  t.is(raws[1]?.params.get('servicepath.1'), '/b1');
  t.is(raws[1]?.params.get('aclname'), 'bee');
});
