import test from 'ava';
import { fromEntries, fromLabels, servicesFromEnv } from '../../src/domain/params.js';
import { parseService, type ParseContext } from '../../src/domain/parse.js';
import type { ServiceSpec } from '../../src/domain/spec.js';

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
  ['serviceName=a&servicePath=/a&port=80&httpsOnly=yes', 400, /httpsOnly "yes" is not a boolean/],
  ['serviceName=a&servicePath=/a&port=80&connectionMode=http-tunnel', 400, /connectionMode "http-tunnel" is refused by HAProxy 2.x/],
  ['serviceName=a&servicePath=/a&port=80&connectionMode=forceclose', 400, /forceclose/],
  ['serviceName=a&servicePath=/a&port=80&httpsRedirectCode=300', 400, /httpsRedirectCode "300"/],
  ['serviceName=a&servicePath=/a&port=80&timeoutServer=-1', 400, /timeoutServer "-1"/],
  ['serviceName=a&servicePath=/a&port=80&serviceDomain=a..b', 400, /serviceDomain "a..b"/],
  ['serviceName=a&servicePath=/a&port=80&serviceDomain=a.*.b', 400, /serviceDomain/],
  ['serviceName=a&servicePath=/a&port=80&usersSecret=nope', 400, /usersSecret "nope" has no secret file/],
  ['serviceName=a&servicePath=/a&port=80&templateBePath=/etc/passwd', 400, /templateBePath "\/etc\/passwd" must be a file inside \/templates/],
  ['serviceName=a&servicePath=/a&port=80&templateBePath=/templates/../etc/passwd', 400, /templateBePath/],
  ['serviceName=a&servicePath=/a&port=80&sessionType=cookie', 400, /sessionType/],
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
    t.is(r.issues.every((i) => i.status === 409) ? 409 : 400, status);
    t.regex(r.issues.map((i) => i.message).join(' '), message);
  });
}

test('every problem is reported at once', (t) => {
  const r = parse('serviceName=a&servicePath=/a&port=abc&httpsOnly=maybe&timeoutServer=x');
  t.false(r.ok);
  if (!r.ok) t.deepEqual(r.issues.map((i) => i.param).sort(), ['httpsOnly', 'port', 'timeoutServer']);
});

test('a parameter given twice with different values is refused', (t) => {
  const raw = fromEntries([['serviceName', 'a'], ['port', '80'], ['port', '81']]);
  t.is(raw.issues.length, 1);
  t.regex(raw.issues[0]?.message ?? '', /port is given more than once/);
  t.is(fromEntries([['port', '80'], ['port', '80']]).issues.length, 0);
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
