import test from 'ava';
import { chooseAddress, LOCAL_ENGINE, type EngineHost, type SharedNetwork } from '../../src/adapters/docker/containerAddress.js';
import { dockerSync, type DockerContainer, type DockerSyncOptions } from '../../src/adapters/docker/labels.js';
import type { ParseContext } from '../../src/domain/parse.js';

const remote: EngineHost = { name: 'b', address: '10.200.1.2', addressFrom: 'tcp host', local: false };
const given: EngineHost = { name: 'c', address: '192.168.9.3', addressFrom: 'address', local: false };
const routed: EngineHost = { name: 'r', address: '10.200.3.2', addressFrom: 'tcp host', local: false, network: 'routed' };

function box(more: Partial<DockerContainer>): DockerContainer {
  return { id: 'cid', name: 'web-1', labels: {}, state: 'running', health: 'none', networkMode: 'bridge', networks: [], ports: [], created: 1, ...more };
}

const bridged = { networkMode: 'app_default', networks: [{ name: 'app_default', ip: '172.18.0.5' }] };
const published = (ip: string, publicPort = 32768) => ({ privatePort: 8080, publicPort, ip, type: 'tcp' });
const edge: SharedNetwork = { name: 'edge', from: 'DOCKER_NETWORK' };

// [title, container, port, shared network, engine, expected "host[:port] rule" or reason pattern, why pattern]
const cases: Array<[string, Partial<DockerContainer>, number | undefined, SharedNetwork | undefined, EngineHost, string | RegExp, RegExp?]> = [
  ['1. the shared network wins over everything else, on any engine',
    { networkMode: 'host', networks: [{ name: 'proj_edge', ip: '10.5.0.7' }], ports: [published('0.0.0.0')] }, 8080, edge, remote,
    '10.5.0.7 network', /its IP on network "proj_edge" \(DOCKER_NETWORK\)/],
  ['2. the host network of the proxy\'s own engine is 127.0.0.1',
    { networkMode: 'host' }, 8080, undefined, LOCAL_ENGINE, '127.0.0.1 host-network', /host network: 127\.0\.0\.1 \(the proxy's own host\)/],
  ['2. the host network of another engine is that engine\'s address',
    { networkMode: 'host' }, 8080, undefined, remote, '10.200.1.2 host-network', /host network of engine "b": 10\.200\.1\.2 \(the engine's address, from its tcp:\/\/ host\)/],
  ['2. ... from address= when the entry gives one',
    { networkMode: 'host' }, 8080, undefined, given, '192.168.9.3 host-network', /from address= of its entry/],
  ['2. a shared network the container is not on falls through to the next rule',
    { networkMode: 'host' }, 8080, edge, remote, '10.200.1.2 host-network'],
  ['3. a port published on all addresses of another engine: its address and the published port',
    { ...bridged, ports: [published('0.0.0.0')] }, 8080, undefined, remote, '10.200.1.2:32768 published', /port 8080 is published on port 32768 of engine "b": 10\.200\.1\.2/],
  ['3. ... on the proxy\'s own engine: 127.0.0.1',
    { ...bridged, ports: [published('')] }, 8080, undefined, LOCAL_ENGINE, '127.0.0.1:32768 published'],
  ['3. IPv4 is preferred over IPv6',
    { ...bridged, ports: [published('::', 32769), published('0.0.0.0', 32768)] }, 8080, undefined, remote, '10.200.1.2:32768 published'],
  ['3. a port published on one address of another engine is reached there',
    { ...bridged, ports: [published('10.200.1.2', 9000)] }, 8080, undefined, remote, '10.200.1.2:9000 published', /published on 10\.200\.1\.2:9000 of engine "b"/],
  ['3. a port published on another host\'s loopback is not reachable; another binding is used',
    { ...bridged, ports: [published('127.0.0.1', 9000), published('10.200.1.2', 9001)] }, 8080, undefined, remote, '10.200.1.2:9001 published'],
  ['3. a port published on the proxy host\'s loopback is fine',
    { ...bridged, ports: [published('127.0.0.1', 9000)] }, 8080, undefined, LOCAL_ENGINE, '127.0.0.1:9000 published'],
  ['3. other ports, udp and unpublished ports do not count',
    { ...bridged, ports: [{ privatePort: 9090, publicPort: 1, ip: '0.0.0.0', type: 'tcp' }, { privatePort: 8080, publicPort: 2, ip: '0.0.0.0', type: 'udp' }, { privatePort: 8080, type: 'tcp' }] }, 8080, undefined, LOCAL_ENGINE, '172.18.0.5 container-ip'],
  ['4. on the proxy\'s own engine, the first network IP',
    { networkMode: 'x', networks: [{ name: 'zeta', ip: '172.19.0.2' }, { name: 'alpha', ip: '172.18.0.2' }] }, 8080, undefined, LOCAL_ENGINE, '172.18.0.2 container-ip', /its IP on network "alpha", its first network/],
  ['4. never on another engine: its bridge IPs are on another host',
    bridged, 8080, undefined, remote, /no address the proxy can reach of engine "b" \(network mode "app_default", port 8080 is not published, its IP on "app_default" is on another host/],
  ['4. ... also when the only binding is on that host\'s loopback',
    { ...bridged, ports: [published('127.0.0.1', 9000)] }, 8080, undefined, remote, /port 8080 is published on 127\.0\.0\.1:9000 only, a loopback address of another host/],
  ['the engine\'s network= is used for its containers',
    { networkMode: 'routed', networks: [{ name: 'routed', ip: '10.77.0.4' }] }, 8080, { name: 'routed', from: 'network= of the engine' }, routed, '10.77.0.4 network', /\(network= of the engine\)/],
  ['no address at all',
    { networkMode: 'none' }, 8080, undefined, LOCAL_ENGINE, /network mode "none", port 8080 is not published, no network IP/],
  ['an address Docker reports is checked before it is used',
    { networkMode: 'x', networks: [{ name: 'n', ip: '10.0.0.1 backup' }] }, 8080, undefined, LOCAL_ENGINE, /Docker reported the address "10\.0\.0\.1 backup", which is not an IP address or host name/],
];

for (const [title, container, port, shared, engine, expected, why] of cases) {
  test(`address rule ${title}`, (t) => {
    const got = chooseAddress(box(container), port, shared, engine);
    if (expected instanceof RegExp) {
      t.true('reason' in got, JSON.stringify(got));
      if ('reason' in got) t.regex(got.reason, expected);
      return;
    }
    t.false('reason' in got, JSON.stringify(got));
    if ('reason' in got) return;
    t.is(`${got.server.host}${got.server.port !== undefined ? `:${got.server.port}` : ''} ${got.rule}`, expected);
    t.is(got.server.id, 'cid');
    if (why) t.regex(got.why, why);
  });
}

const parseContext: ParseContext = { separator: ',', httpsOnly: false, globalUsers: [], userSecrets: new Map(), allowRawSnippets: false, templateDirs: [] };
const engines = { a: { ...LOCAL_ENGINE, name: 'a' }, b: remote, c: given };
const options: DockerSyncOptions = { notifyLabel: 'com.df.notify', parseContext, engines };
const labels = { 'com.df.notify': 'true', 'com.df.serviceName': 'shop', 'com.df.servicePath': '/shop', 'com.df.port': '8080' };

test('containers of one service on different engines are the servers of that one service, each keeping its engine identity', (t) => {
  const result = dockerSync({
    containers: [
      box({ id: 'a/111', name: 'shop-1', engine: 'a', labels, networkMode: 'host', created: 1 }),
      box({ id: 'b/222', name: 'shop-1', engine: 'b', labels, ...bridged, ports: [published('0.0.0.0', 31000)], created: 2 }),
      box({ id: 'c/333', name: 'shop-1', engine: 'c', labels, networkMode: 'host', created: 3 }),
    ],
    services: [],
  }, options);
  t.deepEqual(result.entries.map((e) => e.name), ['shop']);
  t.deepEqual(result.entries[0]?.spec.servers, [
    { host: '127.0.0.1', id: 'a/111' },
    { host: '10.200.1.2', port: 31000, id: 'b/222' },
    { host: '192.168.9.3', id: 'c/333' },
  ]);
  t.deepEqual(result.origins[0]?.addresses?.map((a) => `${a.container}@${a.engine} ${a.rule}`), ['shop-1@a host-network', 'shop-1@b published', 'shop-1@c host-network']);
  t.deepEqual(result.skipped, []);
});

test('a container another engine cannot be reached at is skipped with its engine named; the rest still serve', (t) => {
  const result = dockerSync({
    containers: [
      box({ id: 'a/111', name: 'shop-1', engine: 'a', labels, networkMode: 'host', created: 1 }),
      box({ id: 'b/222', name: 'shop-2', engine: 'b', labels, ...bridged, created: 2 }),
    ],
    services: [],
  }, options);
  t.deepEqual(result.entries[0]?.spec.servers, [{ host: '127.0.0.1', id: 'a/111' }]);
  t.is(result.skipped.length, 1);
  t.like(result.skipped[0], { name: 'shop-2', kind: 'container', engine: 'b' });
  t.regex(result.skipped[0]?.reason ?? '', /of engine "b"/);
});

test('a host-network swarm service of another engine is routed to that engine\'s address', (t) => {
  const result = dockerSync({
    containers: [],
    services: [{ id: 'b/s1', name: 'api', labels: { 'com.df.notify': 'true', 'com.df.servicePath': '/api', 'com.df.port': '80' }, mode: 'replicated', replicas: 1, hostNetwork: true, engine: 'b' }],
  }, options);
  t.deepEqual(result.entries[0]?.spec.servers, [{ host: '10.200.1.2', id: 'b/s1' }]);
});

test('the mapping does not depend on the order engines list their containers', (t) => {
  const a = box({ id: 'a/1', name: 'x', engine: 'a', labels, networkMode: 'host', created: 5 });
  const b = box({ id: 'b/1', name: 'x', engine: 'b', labels, networkMode: 'host', created: 5 });
  t.deepEqual(dockerSync({ containers: [a, b], services: [] }, options), dockerSync({ containers: [b, a], services: [] }, options));
});
