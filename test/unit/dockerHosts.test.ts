import test from 'ava';
import fc from 'fast-check';
import { dockerEngines, parseDockerHosts, type EngineSpec, type TlsDefaults } from '../../src/adapters/docker/dockerHosts.js';
import { loadSettings } from '../../src/settings.js';

const plain: TlsDefaults = { verify: false, tls: false, certPath: '/root/.docker' };
const verifying: TlsDefaults = { verify: true, tls: false, certPath: '/etc/docker-certs' };

type Shape = Pick<EngineSpec, 'name' | 'url' | 'tls' | 'address' | 'addressFrom'> & { certPath?: string; network?: string };

function shape(e: EngineSpec): Shape {
  return {
    name: e.name, url: e.url, tls: e.tls, address: e.address, addressFrom: e.addressFrom,
    ...(e.certPath !== undefined && { certPath: e.certPath }), ...(e.network !== undefined && { network: e.network }),
  };
}

// [title, DOCKER_HOSTS, TLS defaults, engines, problem patterns]
const cases: Array<[string, string, TlsDefaults, Shape[], RegExp[]]> = [
  ['a unix socket is the local engine, reached at 127.0.0.1',
    'unix:///var/run/docker.sock', plain,
    [{ name: 'local', url: 'unix:///var/run/docker.sock', tls: 'off', address: '127.0.0.1', addressFrom: 'local' }], []],
  ['a tcp engine is named after its host and reached at it',
    'tcp://10.0.0.2:2375', plain,
    [{ name: '10.0.0.2', url: 'tcp://10.0.0.2:2375', tls: 'off', address: '10.0.0.2', addressFrom: 'tcp host' }], []],
  ['names, and a comma list with spaces',
    'here=unix:///run/docker.sock, b=tcp://node-b:2375 ,c=tcp://node-c.example:2375', plain,
    [
      { name: 'here', url: 'unix:///run/docker.sock', tls: 'off', address: '127.0.0.1', addressFrom: 'local' },
      { name: 'b', url: 'tcp://node-b:2375', tls: 'off', address: 'node-b', addressFrom: 'tcp host' },
      { name: 'c', url: 'tcp://node-c.example:2375', tls: 'off', address: 'node-c.example', addressFrom: 'tcp host' },
    ], []],
  ['address= gives the host address (a unix socket forwarded from another host, an engine API on another interface)',
    'far=unix:///tmp/far.sock?address=10.0.0.9,b=tcp://10.1.0.2:2375?address=192.168.5.2', plain,
    [
      { name: 'far', url: 'unix:///tmp/far.sock', tls: 'off', address: '10.0.0.9', addressFrom: 'address' },
      { name: 'b', url: 'tcp://10.1.0.2:2375', tls: 'off', address: '192.168.5.2', addressFrom: 'address' },
    ], []],
  ['DOCKER_TLS_VERIFY makes tcp engines verify with DOCKER_CERT_PATH; an entry may say otherwise',
    'a=tcp://a:2376,b=tcp://b:2375?tls=off,c=tcp://c:2376?certs=/etc/c,d=tcp://d:2376?tls=noverify', verifying,
    [
      { name: 'a', url: 'tcp://a:2376', tls: 'verify', certPath: '/etc/docker-certs', address: 'a', addressFrom: 'tcp host' },
      { name: 'b', url: 'tcp://b:2375', tls: 'off', address: 'b', addressFrom: 'tcp host' },
      { name: 'c', url: 'tcp://c:2376', tls: 'verify', certPath: '/etc/c', address: 'c', addressFrom: 'tcp host' },
      { name: 'd', url: 'tcp://d:2376', tls: 'noverify', certPath: '/etc/docker-certs', address: 'd', addressFrom: 'tcp host' },
    ], []],
  ['without DOCKER_TLS_VERIFY, certs= alone turns verification on for its entry only',
    'a=tcp://a:2376?certs=/certs/a,b=tcp://b:2375', plain,
    [
      { name: 'a', url: 'tcp://a:2376', tls: 'verify', certPath: '/certs/a', address: 'a', addressFrom: 'tcp host' },
      { name: 'b', url: 'tcp://b:2375', tls: 'off', address: 'b', addressFrom: 'tcp host' },
    ], []],
  ['network= names the network whose container IPs the proxy reaches on that engine',
    'b=tcp://b:2375?network=routed&address=10.9.0.1', plain,
    [{ name: 'b', url: 'tcp://b:2375', tls: 'off', address: '10.9.0.1', addressFrom: 'address', network: 'routed' }], []],
  ['IPv6 hosts and addresses',
    'v6=tcp://[fd00::2]:2375,w=tcp://w:2375?address=[fd00::3]', plain,
    [
      { name: 'v6', url: 'tcp://[fd00::2]:2375', tls: 'off', address: 'fd00::2', addressFrom: 'tcp host' },
      { name: 'w', url: 'tcp://w:2375', tls: 'off', address: 'fd00::3', addressFrom: 'address' },
    ], []],
  ['two unnamed entries on one host get numbered names',
    'tcp://node:2375,tcp://node:2376', plain,
    [
      { name: 'node', url: 'tcp://node:2375', tls: 'off', address: 'node', addressFrom: 'tcp host' },
      { name: 'node-2', url: 'tcp://node:2376', tls: 'off', address: 'node', addressFrom: 'tcp host' },
    ], []],
  ['a bad entry is reported, naming the variable and the entry, and skipped; the others stay',
    'a=tcp://a:2375,ftp://nowhere,b=tcp://b:99999,c=tcp://c:2375', plain,
    [
      { name: 'a', url: 'tcp://a:2375', tls: 'off', address: 'a', addressFrom: 'tcp host' },
      { name: 'c', url: 'tcp://c:2375', tls: 'off', address: 'c', addressFrom: 'tcp host' },
    ], [/^DOCKER_HOSTS entry "ftp:\/\/nowhere" is not unix:\/\/\/path\/to\/docker.sock or tcp:\/\/host:port.*skipped$/, /^DOCKER_HOSTS entry "b=tcp:\/\/b:99999" is not unix/]],
  ['bad options, each with its reason',
    'a=tcp://a:2375?tls=maybe,b=tcp://b:2375?colour=red,c=unix:///x.sock?tls=verify,d=tcp://d:2375?address=no%20way,e=tcp://e:2375?certs=relative,f=tcp://f:1?tls=off&certs=/c,g=tcp://g:1?address=a&address=b,h=tcp://h:1?network=-bad', plain,
    [], [
      /entry "a=tcp:\/\/a:2375\?tls=maybe" has tls="maybe", which must be verify, noverify or off/,
      /"b=.*" has the option "colour", which is not one of tls, certs, address, network/,
      /"c=.*" has TLS options, which are only for tcp:\/\/ engines/,
      /"d=.*" has address="no%20way", which is not a host name or IP address/,
      /"e=.*" has certs="relative", which must be an absolute directory path/,
      /"f=.*" has certs= with tls=off/,
      /"g=.*" gives the option "address" twice/,
      /"h=.*" has network="-bad", which is not a Docker network name/,
    ]],
  ['a tcp host that is no host name is refused (it would become a server address)',
    'x=tcp://...:2375,y=tcp://-a-:2375', plain,
    [], [/"x=tcp:\/\/...:2375" has the host "...", which is not a host name/, /"y=tcp:\/\/-a-:2375" has the host "-a-"/]],
  ['a bad name is refused',
    'no good=tcp://a:2375,ok=tcp://b:2375', plain,
    [{ name: 'ok', url: 'tcp://b:2375', tls: 'off', address: 'b', addressFrom: 'tcp host' }], [/has the name "no good", which must start with a letter or digit/]],
  ['a name given twice, and the same engine twice, are skipped after the first',
    'a=tcp://a:2375,a=tcp://other:2375,again=tcp://a:2375,/var/run/docker.sock,unix:///var/run/docker.sock', plain,
    [
      { name: 'a', url: 'tcp://a:2375', tls: 'off', address: 'a', addressFrom: 'tcp host' },
      { name: 'local', url: '/var/run/docker.sock', tls: 'off', address: '127.0.0.1', addressFrom: 'local' },
    ], [/"a=tcp:\/\/other:2375" uses the name "a" of an earlier entry/, /"again=tcp:\/\/a:2375" is the engine "a" again/, /"unix:\/\/\/var\/run\/docker.sock" is the engine "local" again/]],
];

for (const [title, value, defaults, engines, problems] of cases) {
  test(`DOCKER_HOSTS: ${title}`, (t) => {
    const parsed = parseDockerHosts(value, defaults);
    t.deepEqual(parsed.engines.map(shape), engines);
    t.is(parsed.problems.length, problems.length, parsed.problems.join('\n'));
    problems.forEach((p, i) => t.regex(parsed.problems[i] ?? '', p));
  });
}

test('DOCKER_HOST stays the single-engine form: the proxy\'s own engine (127.0.0.1), even over tcp (a socket proxy)', (t) => {
  const one = dockerEngines({ host: 'tcp://socket-proxy:2375', fallback: 'unix:///var/run/docker.sock', tls: plain });
  t.false(one.multiple);
  t.deepEqual(one.engines.map(shape), [{ name: 'local', url: 'tcp://socket-proxy:2375', tls: 'off', address: '127.0.0.1', addressFrom: 'local' }]);
  const tls = dockerEngines({ host: 'tcp://docker:2376', fallback: 'unix:///var/run/docker.sock', tls: verifying });
  t.is(tls.engines[0]?.tls, 'verify');
  t.is(tls.engines[0]?.certPath, '/etc/docker-certs');
  t.is(dockerEngines({ fallback: 'unix:///var/run/docker.sock', tls: plain }).engines[0]?.url, 'unix:///var/run/docker.sock');
});

test('DOCKER_HOSTS wins over DOCKER_HOST, which is reported as ignored', (t) => {
  const both = dockerEngines({ hosts: 'b=tcp://b:2375', host: 'unix:///var/run/docker.sock', fallback: 'unix:///var/run/docker.sock', tls: plain });
  t.true(both.multiple);
  t.deepEqual(both.engines.map((e) => e.name), ['b']);
  t.regex(both.problems.join(), /DOCKER_HOST "unix:\/\/\/var\/run\/docker.sock" is ignored because DOCKER_HOSTS is set/);
});

const env = (more: Record<string, string>) => ({ PATH: process.env.PATH, DISCOVERY: 'docker', ...more });

test('settings: a list whose only entry is bad is a start-up error naming DOCKER_HOSTS and the value', (t) => {
  const r = loadSettings(env({ DOCKER_HOSTS: 'ssh://me@far' }));
  t.false(r.ok);
  if (r.ok) return;
  t.true(r.errors.some((e) => /^DOCKER_HOSTS "ssh:\/\/me@far" has no usable engine: DOCKER_HOSTS entry "ssh:\/\/me@far" is not unix/.test(e)), r.errors.join('\n'));
});

test('settings: every entry bad is a start-up error; one good entry among bad ones starts, the bad ones reported', (t) => {
  const bad = loadSettings(env({ DOCKER_HOSTS: 'a=ftp://x,b=tcp://b' }));
  t.false(bad.ok);
  const mixed = loadSettings(env({ DOCKER_HOSTS: 'a=ftp://x,b=tcp://b:2375' }));
  t.true(mixed.ok);
  if (!mixed.ok) return;
  t.deepEqual(mixed.settings.docker.engines.map((e) => e.name), ['b']);
  t.true(mixed.settings.docker.multiple);
  t.is(mixed.settings.docker.problems.length, 1);
  t.regex(mixed.settings.docker.problems[0] ?? '', /DOCKER_HOSTS entry "a=ftp:\/\/x" is not/);
});

test('settings: DOCKER_TLS_VERIFY, DOCKER_TLS and DOCKER_CERT_PATH are read, and checked', (t) => {
  const r = loadSettings(env({ DOCKER_HOSTS: 'b=tcp://b:2376', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: '/certs' }));
  t.true(r.ok);
  if (r.ok) t.like(r.settings.docker.engines[0], { tls: 'verify', certPath: '/certs' });
  const noverify = loadSettings(env({ DOCKER_HOSTS: 'b=tcp://b:2376', DOCKER_TLS: 'true', HOME: '/home/op' }));
  t.true(noverify.ok);
  if (noverify.ok) t.like(noverify.settings.docker.engines[0], { tls: 'noverify', certPath: '/home/op/.docker' });
  const wrong = loadSettings(env({ DOCKER_TLS_VERIFY: 'yes please', DOCKER_CERT_PATH: 'certs' }));
  t.false(wrong.ok);
  if (!wrong.ok) {
    t.true(wrong.errors.some((e) => e.startsWith('DOCKER_TLS_VERIFY "yes please"')), wrong.errors.join('\n'));
    t.true(wrong.errors.some((e) => e.startsWith('DOCKER_CERT_PATH "certs" must be an absolute directory path')), wrong.errors.join('\n'));
  }
});

test('settings: DOCKER_HOSTS alone turns Docker discovery on', (t) => {
  const r = loadSettings({ PATH: process.env.PATH, DOCKER_HOSTS: 'b=tcp://b:2375' });
  t.true(r.ok);
  if (r.ok) t.is(r.settings.discovery, 'docker');
});

test('hostile DOCKER_HOSTS values are refused naming the variable, or give only engines with clean names and addresses', (t) => {
  const piece = fc.constantFrom('a=', 'tcp://', 'unix:///', 'h', '10.0.0.1', ':2375', '?', '&', 'tls=verify', 'address=', 'certs=/c', 'network=n', ',', ' ', '\n', '\r', '\u0000', '#', "'", '"', '{{x}}', '%', '[', ']', '::1', '..', '/');
  let refused = 0;
  let accepted = 0;
  fc.assert(fc.property(fc.array(piece, { maxLength: 14 }).map((p) => p.join('')), (value) => {
    const r = loadSettings(env({ DOCKER_HOSTS: value }));
    if (!r.ok) {
      refused++;
      if (!r.errors.some((e) => e.startsWith('DOCKER_HOSTS'))) throw new Error(`errors do not name DOCKER_HOSTS: ${r.errors.join(' ')}`);
      return;
    }
    accepted++;
    for (const e of r.settings.docker.engines) {
      if (!/^[A-Za-z0-9_.:-]+$/.test(e.name)) throw new Error(`engine name ${JSON.stringify(e.name)}`);
      if (!/^[A-Za-z0-9_.:-]+$/.test(e.address)) throw new Error(`engine address ${JSON.stringify(e.address)}`);
    }
    for (const p of r.settings.docker.problems) if (!p.startsWith('DOCKER_HOST')) throw new Error(`problem does not name the variable: ${p}`);
  }), { numRuns: 600, seed: 20 });
  t.log(`${refused} refused, ${accepted} accepted`);
  t.true(refused > 0 && accepted > 0);
});
