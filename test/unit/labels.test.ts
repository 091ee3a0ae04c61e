import test from 'ava';
import { dockerSync, type DockerContainer, type DockerState, type DockerSwarmService, type DockerSyncOptions } from '../../src/adapters/docker/labels.js';
import { routesToTasks, toTask, type DockerTask } from '../../src/adapters/docker/swarmTasks.js';
import type { ParseContext } from '../../src/domain/parse.js';
import { backoffDelay } from '../../src/core/backoff.js';
import { isRelevant, parseEvent } from '../../src/adapters/docker/events.js';
import { parseDockerHost } from '../../src/adapters/docker/dockerHost.js';

const parseContext: ParseContext = { separator: ',', httpsOnly: false, globalUsers: [], userSecrets: new Map(), allowRawSnippets: false, templateDirs: [] };
const options: DockerSyncOptions = { notifyLabel: 'com.df.notify', parseContext };

let seq = 0;
/** A running, labelled, host-network container unless told otherwise. */
function container(name: string, labels: Record<string, string>, more: Partial<DockerContainer> = {}): DockerContainer {
  seq++;
  return {
    id: more.id ?? `${name}-id`,
    name,
    labels: { 'com.df.notify': 'true', ...labels },
    state: 'running',
    health: 'none',
    networkMode: 'host',
    networks: [],
    ports: [],
    created: more.created ?? 1000 + seq,
    ...more,
  };
}

function service(name: string, labels: Record<string, string>, more: Partial<DockerSwarmService> = {}): DockerSwarmService {
  return { id: `${name}-sid`, name, labels: { 'com.df.notify': 'true', ...labels }, mode: 'replicated', replicas: 1, hostNetwork: false, ...more };
}

const web = { 'com.df.servicePath': '/web', 'com.df.port': '8080' };

/** A task of a service routed to its tasks, running on overlay network "edge" unless told otherwise. */
function task(id: string, ip: string, more: Partial<DockerTask> = {}): DockerTask {
  return { id, state: 'running', containerId: `${id}-cid`, addresses: [{ network: 'edge', ip }], ...more };
}
const api = { 'com.df.servicePath': '/api', 'com.df.port': '80' };
const toTasks = { ...api, 'com.df.swarmRouting': 'tasks' };

interface Expected {
  /** name -> servers as "host[:port]" (undefined: no servers set, the VIP) */
  entries: Record<string, string[] | undefined>;
  /** name -> reason pattern */
  skipped?: Record<string, RegExp>;
  /** name -> params that must be present (undefined: absent) */
  params?: Record<string, Record<string, string | undefined>>;
}

const cases: Array<[string, DockerState, Expected, Partial<DockerSyncOptions>?]> = [
  ['a labelled host-network container is one server on 127.0.0.1',
    { containers: [container('c1', web)], services: [] },
    { entries: { c1: ['127.0.0.1'] }, params: { c1: { serviceName: 'c1', servicePath: '/web', port: '8080' } } }],
  ['DOCKER_NETWORK names the shared network, also with the compose project prefix',
    { containers: [container('c1', web, { networkMode: 'shop_edge', networks: [{ name: 'shop_default', ip: '10.1.0.5' }, { name: 'shop_edge', ip: '10.2.0.5' }] })], services: [] },
    { entries: { c1: ['10.2.0.5'] } }, { network: 'edge' }],
  ['a container without the notify label is ignored',
    { containers: [container('c1', { ...web, 'com.df.notify': 'false' }), { ...container('c2', web), labels: web }], services: [] },
    { entries: {} }],
  ['the notify label name is configurable',
    { containers: [container('c1', { ...web, 'com.df.notify': 'false', 'my.notify': 'true' })], services: [] },
    { entries: { c1: ['127.0.0.1'] } }, { notifyLabel: 'my.notify' }],
  ['containers of one compose service are the servers of one service, oldest first',
    { containers: [
      container('app_web_2', { ...web, 'com.docker.compose.service': 'web' }, { created: 20, networkMode: 'app_default', networks: [{ name: 'app_default', ip: '10.0.0.2' }] }),
      container('app_web_1', { ...web, 'com.docker.compose.service': 'web' }, { created: 10, networkMode: 'app_default', networks: [{ name: 'app_default', ip: '10.0.0.1' }] }),
    ], services: [] },
    { entries: { web: ['10.0.0.1', '10.0.0.2'] } }],
  ['com.df.serviceName groups containers whatever their names',
    { containers: [container('a', { ...web, 'com.df.serviceName': 'shop', 'com.df.port': '9000' }, { networkMode: 'none', ports: [{ privatePort: 9000, publicPort: 32001, ip: '0.0.0.0', type: 'tcp' }] }),
      container('b', { ...web, 'com.df.serviceName': 'shop', 'com.df.port': '9000' }, { networkMode: 'none', ports: [{ privatePort: 9000, publicPort: 32002, ip: '0.0.0.0', type: 'tcp' }] })], services: [] },
    { entries: { shop: ['127.0.0.1:32001', '127.0.0.1:32002'] } }],
  ['stopped and paused containers are not servers, and are not reported',
    { containers: [container('c1', web, { state: 'exited' }), container('c2', web, { state: 'paused' })], services: [] },
    { entries: {}, skipped: {} }],
  ['a container whose health check has not passed gets no traffic; a healthy one does',
    { containers: [
      container('w1', { ...web, 'com.df.serviceName': 'w' }, { health: 'healthy', networkMode: 'n', networks: [{ name: 'n', ip: '10.0.0.1' }] }),
      container('w2', { ...web, 'com.df.serviceName': 'w' }, { health: 'unhealthy', networkMode: 'n', networks: [{ name: 'n', ip: '10.0.0.2' }] }),
      container('w3', { ...web, 'com.df.serviceName': 'w' }, { health: 'starting', networkMode: 'n', networks: [{ name: 'n', ip: '10.0.0.3' }] }),
    ], services: [] },
    { entries: { w: ['10.0.0.1'] }, skipped: { w2: /unhealthy/, w3: /health check has not passed yet/ } }],
  ['a service whose only container is unhealthy is not routed at all (never to its name)',
    { containers: [container('sick', web, { health: 'unhealthy' })], services: [] },
    { entries: {}, skipped: { sick: /unhealthy/ } }],
  ['bad labels skip that container with the reason, others still route',
    { containers: [container('bad', { ...web, 'com.df.port': 'abc' }), container('good', { ...web, 'com.df.servicePath': '/good' })], services: [] },
    { entries: { good: ['127.0.0.1'] }, skipped: { bad: /bad labels: .*port "abc" is not a port number/ } }],
  ['a label given twice with different cases and values is a bad label',
    { containers: [container('dup', { ...web, 'com.df.PORT': '81' })], services: [] },
    { entries: {}, skipped: { dup: /bad labels:.*more than once/ } }],
  ['an HTTP container without path or domain is skipped (409 case)',
    { containers: [container('nopath', { 'com.df.port': '80' })], services: [] },
    { entries: {}, skipped: { nopath: /servicePath or serviceDomain are mandatory/ } }],
  ['one container with bad labels does not take its siblings down',
    { containers: [container('s1', { ...web, 'com.df.serviceName': 's' }, { created: 1 }), container('s2', { ...web, 'com.df.serviceName': 's', 'com.df.reqMode': 'udp' }, { created: 2 })], services: [] },
    { entries: { s: ['127.0.0.1'] }, skipped: { s2: /reqMode "udp"/ } }],
  ['the newest container defines the service; older ones with other labels are skipped',
    { containers: [container('old', { ...web, 'com.df.serviceName': 'r', 'com.df.servicePath': '/v1' }, { created: 1 }), container('new', { ...web, 'com.df.serviceName': 'r', 'com.df.servicePath': '/v2' }, { created: 2 })], services: [] },
    { entries: { r: ['127.0.0.1'] }, skipped: { old: /labels differ from those of "new"/ }, params: { r: { servicePath: '/v2' } } }],
  ['replicas on the host network each listen on the port their own labels name',
    { containers: [container('r1', { ...web, 'com.df.serviceName': 'r', 'com.df.port': '18101' }, { created: 1 }), container('r2', { ...web, 'com.df.serviceName': 'r', 'com.df.port': '18102' }, { created: 2 })], services: [] },
    { entries: { r: ['127.0.0.1:18101', '127.0.0.1'] }, params: { r: { port: '18102' } } }],
  ['with several destinations the ports are part of the definition',
    { containers: [
      container('m1', { 'com.df.serviceName': 'm', 'com.df.servicePath.1': '/a', 'com.df.port.1': '81', 'com.df.servicePath.2': '/b', 'com.df.port.2': '82' }, { created: 1 }),
      container('m2', { 'com.df.serviceName': 'm', 'com.df.servicePath.1': '/a', 'com.df.port.1': '83', 'com.df.servicePath.2': '/b', 'com.df.port.2': '84' }, { created: 2 }),
    ], services: [] },
    { entries: { m: ['127.0.0.1'] }, skipped: { m1: /labels differ/ } }],
  ['indexed labels are destinations, as in the reconfigure query',
    { containers: [container('multi', { 'com.df.servicePath.1': '/one', 'com.df.port.1': '81', 'com.df.servicePath.2': '/two', 'com.df.port.2': '82' })], services: [] },
    { entries: { multi: ['127.0.0.1'] }, params: { multi: { 'servicePath.1': '/one', 'port.2': '82' } } }],
  ['DOCKER_NETWORK picks the IP on the shared network',
    { containers: [container('n', web, { networkMode: 'a', networks: [{ name: 'a', ip: '10.1.0.5' }, { name: 'proxy', ip: '10.2.0.5' }] })], services: [] },
    { entries: { n: ['10.2.0.5'] } }, { network: 'proxy' }],
  ['com.df.network overrides DOCKER_NETWORK',
    { containers: [container('n', { ...web, 'com.df.network': 'a' }, { networkMode: 'a', networks: [{ name: 'a', ip: '10.1.0.5' }, { name: 'proxy', ip: '10.2.0.5' }] })], services: [] },
    { entries: { n: ['10.1.0.5'] } }, { network: 'proxy' }],
  ['a container not on the shared network falls back to --network host',
    { containers: [container('h', web)], services: [] },
    { entries: { h: ['127.0.0.1'] } }, { network: 'proxy' }],
  ['a published port is used on 127.0.0.1, or on the address it is bound to',
    { containers: [
      container('p1', { ...web, 'com.df.servicePath': '/p1' }, { networkMode: 'none', ports: [{ privatePort: 8080, publicPort: 32768, ip: '::', type: 'tcp' }, { privatePort: 8080, publicPort: 32768, ip: '0.0.0.0', type: 'tcp' }] }),
      container('p2', { ...web, 'com.df.servicePath': '/p2' }, { networkMode: 'none', ports: [{ privatePort: 8080, publicPort: 40000, ip: '127.0.0.2', type: 'tcp' }, { privatePort: 8080, ip: '', type: 'udp' }] }),
    ], services: [] },
    { entries: { p1: ['127.0.0.1:32768'], p2: ['127.0.0.2:40000'] } }],
  ['an unpublished port falls back to the first network IP',
    { containers: [container('ip', web, { networkMode: 'bridge', networks: [{ name: 'z', ip: '172.17.0.9' }, { name: 'b', ip: '172.18.0.3' }], ports: [{ privatePort: 9999, publicPort: 1, ip: '0.0.0.0', type: 'tcp' }] })], services: [] },
    { entries: { ip: ['172.18.0.3'] } }],
  ['a container the proxy cannot reach is skipped with the reason',
    { containers: [container('none', web, { networkMode: 'none' })], services: [] },
    { entries: {}, skipped: { none: /no address the proxy can reach .*network mode "none"/ } }],
  ['swarm task containers are routed through their service only',
    { containers: [container('web.1.abc', { ...web, 'com.docker.swarm.service.id': 'x' })], services: [] },
    { entries: {} }],
  ['a swarm service routes to its name (the VIP) and carries its replicas',
    { containers: [], services: [service('api', { 'com.df.servicePath': '/api', 'com.df.port': '80' }, { replicas: 3 })] },
    { entries: { api: undefined }, params: { api: { serviceName: 'api', replicas: '3', checkResolvers: 'true' } } }],
  ['com.df.checkResolvers=false keeps a VIP to the resolution at load time',
    { containers: [], services: [service('api', { 'com.df.servicePath': '/api', 'com.df.port': '80', 'com.df.checkResolvers': 'false' })] },
    { entries: { api: undefined }, params: { api: { checkResolvers: 'false' } } }],
  ['replicas=0 removes a swarm service, silently',
    { containers: [], services: [service('api', { 'com.df.servicePath': '/api', 'com.df.port': '80' }, { replicas: 0 })] },
    { entries: {}, skipped: {} }],
  ['a global service has no replicas parameter',
    { containers: [], services: [service('g', { 'com.df.servicePath': '/g', 'com.df.port': '80' }, { mode: 'global', replicas: undefined })] },
    { entries: { g: undefined }, params: { g: { serviceName: 'g' } } }],
  ['a host-network swarm service routes to 127.0.0.1',
    { containers: [], services: [service('h', { 'com.df.servicePath': '/h', 'com.df.port': '80' }, { hostNetwork: true })] },
    { entries: { h: ['127.0.0.1'] }, params: { h: { checkResolvers: undefined } } }],
  ['an explicit outboundHostname wins over the host network',
    { containers: [], services: [service('h', { 'com.df.servicePath': '/h', 'com.df.port': '80', 'com.df.outboundHostname': '127.0.0.9' }, { hostNetwork: true })] },
    { entries: { h: undefined }, params: { h: { outboundHostname: '127.0.0.9' } } }],
  ['discoveryType=DNS keeps the name for HAProxy to resolve',
    { containers: [], services: [service('d', { 'com.df.servicePath': '/d', 'com.df.port': '80', 'com.df.discoveryType': 'DNS' }, { hostNetwork: true, replicas: 2 })] },
    { entries: { d: undefined }, params: { d: { discoveryType: 'DNS', replicas: '2' } } }],
  ['a service published under another name still reaches its own VIP',
    { containers: [], services: [service('stack_api', { 'com.df.servicePath': '/api', 'com.df.port': '80', 'com.df.serviceName': 'api' })] },
    { entries: { api: undefined }, params: { api: { serviceName: 'api', outboundHostname: 'stack_api' } } }],
  ['shortName drops the stack prefix',
    { containers: [], services: [service('shop_api', { 'com.df.servicePath': '/api', 'com.df.port': '80', 'com.df.shortName': 'true', 'com.docker.stack.namespace': 'shop' })] },
    { entries: { api: undefined }, params: { api: { outboundHostname: 'shop_api' } } }],
  ['a swarm service with bad labels is skipped with the reason',
    { containers: [], services: [service('bad', { 'com.df.servicePath': '/x', 'com.df.port': '99999' }), service('ok', { 'com.df.servicePath': '/ok', 'com.df.port': '80' })] },
    { entries: { ok: undefined }, skipped: { bad: /port "99999"/ } }],
  ['a name used by a swarm service is not taken by containers',
    { containers: [container('c', { ...web, 'com.df.serviceName': 'api' })], services: [service('api', { 'com.df.servicePath': '/api', 'com.df.port': '80' })] },
    { entries: { api: undefined }, skipped: { c: /already used by swarm service "api"/ } }],
  ['swarmRouting=tasks: each running task is a server at its address, sorted by task id; no resolvers, no VIP name',
    { containers: [], services: [service('api', toTasks, { replicas: 3, tasks: [task('t3', '10.0.1.7'), task('t1', '10.0.1.5'), task('t2', '10.0.1.6', { state: 'starting' })] })] },
    { entries: { api: ['10.0.1.5', '10.0.1.7'] }, params: { api: { checkResolvers: undefined, outboundHostname: undefined, replicas: '3' } } }],
  ['swarmRouting=tasks: a task that is exiting or unhealthy (its container said so) is not a server',
    { containers: [], services: [service('api', toTasks, { tasks: [task('t1', '10.0.1.5', { state: 'exiting' }), task('t2', '10.0.1.6'), task('t3', '10.0.1.8', { state: 'unhealthy' })] })] },
    { entries: { api: ['10.0.1.6'] } }],
  ['SWARM_ROUTING=tasks is the default for services without the label; com.df.swarmRouting=vip keeps one on its VIP',
    { containers: [], services: [service('api', api, { tasks: [task('t1', '10.0.1.5')] }), service('old', { ...api, 'com.df.servicePath': '/old', 'com.df.swarmRouting': 'vip' })] },
    { entries: { api: ['10.0.1.5'], old: undefined }, params: { old: { checkResolvers: 'true' } } }, { swarmRouting: 'tasks' }],
  ['SWARM_ROUTING=tasks leaves a service with its own outboundHostname or discoveryType as it asked',
    { containers: [], services: [service('dns', { ...api, 'com.df.discoveryType': 'DNS' }, { tasks: [task('t1', '10.0.1.5')] }), service('named', { ...api, 'com.df.servicePath': '/n', 'com.df.outboundHostname': 'elsewhere' }, { tasks: [] })] },
    { entries: { dns: undefined, named: undefined }, params: { dns: { discoveryType: 'DNS' }, named: { outboundHostname: 'elsewhere' } } }, { swarmRouting: 'tasks' }],
  ['swarmRouting=tasks with outboundHostname is a contradiction, skipped with the reason',
    { containers: [], services: [service('api', { ...toTasks, 'com.df.outboundHostname': 'x' }, { tasks: [task('t1', '10.0.1.5')] })] },
    { entries: {}, skipped: { api: /swarmRouting=tasks .*cannot be combined with outboundHostname/ } }],
  ['a bad com.df.swarmRouting is skipped with the value',
    { containers: [], services: [service('api', { ...api, 'com.df.swarmRouting': 'ipvs' })] },
    { entries: {}, skipped: { api: /com.df.swarmRouting "ipvs" must be vip or tasks/ } }],
  ['swarmRouting=tasks with no running task yet: no entry, and the reason',
    { containers: [], services: [service('api', toTasks, { tasks: [task('t1', '10.0.1.5', { state: 'preparing' })] })] },
    { entries: {}, skipped: { api: /none of its tasks is running/ } }],
  ['tasks on several networks: com.df.network (or DOCKER_NETWORK) picks the one the proxy shares',
    { containers: [], services: [
      service('api', { ...toTasks, 'com.df.network': 'edge' }, { tasks: [task('t1', '10.0.1.5', { addresses: [{ network: 'back', ip: '10.9.0.5' }, { network: 'edge', ip: '10.0.1.5' }] })] }),
      service('b', { ...toTasks, 'com.df.servicePath': '/b' }, { tasks: [task('t2', '10.0.2.5', { addresses: [{ network: 'back', ip: '10.9.0.6' }, { network: 'front', ip: '10.0.2.5' }] })] }),
    ] },
    { entries: { api: ['10.0.1.5'], b: ['10.0.2.5'] } }, { network: 'front' }],
  ['tasks on several networks and none named: skipped, naming the networks',
    { containers: [], services: [service('api', toTasks, { tasks: [task('t1', '10.0.1.5', { addresses: [{ network: 'back', ip: '10.9.0.5' }, { network: 'edge', ip: '10.0.1.5' }] })] })] },
    { entries: {}, skipped: { api: /several networks \(back, edge\); name the proxy's with com.df.network/ } }],
  ['tasks not on the named network, or with an address that is not an IP: skipped with the reason',
    { containers: [], services: [
      service('api', { ...toTasks, 'com.df.network': 'front' }, { tasks: [task('t1', '10.0.1.5')] }),
      service('b', { ...toTasks, 'com.df.servicePath': '/b' }, { tasks: [task('t2', '10.0.0.1\n  server x 1.2.3.4')] }),
    ] },
    { entries: {}, skipped: { api: /not attached to network "front" \(com.df.network\); attached: edge/, b: /not an IP address/ } }],
  ['one task that cannot be reached is left out and reported; the service keeps its other tasks',
    { containers: [], services: [service('api', toTasks, { tasks: [task('t1', '10.0.1.5', { addresses: [{ network: 'back', ip: '10.9.0.5' }, { network: 'edge', ip: '10.0.1.5' }] }), task('t2', '10.0.1.6')] })] },
    { entries: { api: ['10.0.1.6'] }, skipped: { api: /^task t1 is attached to several networks \(back, edge\).*; its other tasks are routed$/ } }],
  ['com.df.swarmRouting is read whatever the case of its name and value, as every com.df label',
    { containers: [], services: [service('api', { ...api, 'com.df.swarmrouting': 'Tasks' }, { tasks: [task('t1', '10.0.1.5')] }), service('bad', { ...api, 'com.df.servicePath': '/b', 'COM.DF.SWARMROUTING': 'ipvs' })] },
    { entries: { api: ['10.0.1.5'] }, skipped: { bad: /com.df.swarmRouting "ipvs" must be vip or tasks/ } }],
  ['DOCKER_NETWORK matches a stack network <stack>_<name>, as for containers; an exact name wins',
    { containers: [], services: [
      service('api', toTasks, { tasks: [task('t1', '10.0.1.5', { addresses: [{ network: 'shop_back', ip: '10.9.0.5' }, { network: 'shop_edge', ip: '10.0.1.5' }] })] }),
      service('b', { ...toTasks, 'com.df.servicePath': '/b' }, { tasks: [task('t2', '10.0.2.5', { addresses: [{ network: 'shop_edge', ip: '10.9.0.6' }, { network: 'edge', ip: '10.0.2.5' }] })] }),
    ] },
    { entries: { api: ['10.0.1.5'], b: ['10.0.2.5'] } }, { network: 'edge' }],
  ['a host-network service stays on 127.0.0.1 whatever the routing',
    { containers: [], services: [service('h', { ...api, 'com.df.servicePath': '/h' }, { hostNetwork: true, tasks: [task('t1', '10.0.1.5')] })] },
    { entries: { h: ['127.0.0.1'] } }, { swarmRouting: 'tasks' }],
];

for (const [title, state, expected, opts] of cases) {
  test(title, (t) => {
    const result = dockerSync(state, { ...options, ...opts });
    const got: Record<string, string[] | undefined> = {};
    for (const e of result.entries) got[e.name] = e.spec.servers?.map((s) => (s.port !== undefined ? `${s.host}:${s.port}` : s.host));
    t.deepEqual(got, expected.entries);
    for (const e of result.entries) t.is(e.owner, 'docker');
    const skipped = Object.fromEntries(result.skipped.map((s) => [s.name, s.reason]));
    t.deepEqual(Object.keys(skipped).sort(), Object.keys(expected.skipped ?? {}).sort(), JSON.stringify(result.skipped));
    for (const [name, reason] of Object.entries(expected.skipped ?? {})) t.regex(skipped[name] ?? '', reason);
    for (const [name, params] of Object.entries(expected.params ?? {})) {
      const entry = result.entries.find((e) => e.name === name);
      for (const [k, v] of Object.entries(params)) t.is(entry?.params[k], v, `${name}.${k}`);
    }
  });
}

test('servers carry the container id, so HAProxy slots stay with their container', (t) => {
  const result = dockerSync({ containers: [container('c1', web, { id: 'abc123' })], services: [] }, options);
  t.deepEqual(result.entries[0]?.spec.servers, [{ host: '127.0.0.1', id: 'abc123' }]);
  t.deepEqual(result.origins, [{
    name: 'c1', kind: 'container', from: ['c1'],
    addresses: [{ server: { host: '127.0.0.1', id: 'abc123' }, rule: 'host-network', why: "it uses the host network: 127.0.0.1 (the proxy's own host)", container: 'c1' }],
  }]);
});

test('the same state always maps to the same entries (level-triggered, order of listing does not matter)', (t) => {
  const a = container('x1', { ...web, 'com.df.serviceName': 'x' }, { created: 1, networkMode: 'n', networks: [{ name: 'n', ip: '10.0.0.1' }] });
  const b = container('x2', { ...web, 'com.df.serviceName': 'x' }, { created: 2, networkMode: 'n', networks: [{ name: 'n', ip: '10.0.0.2' }] });
  const s1 = service('s1', { 'com.df.servicePath': '/s1', 'com.df.port': '80' });
  const s2 = service('s2', { 'com.df.servicePath': '/s2', 'com.df.port': '80' });
  t.deepEqual(dockerSync({ containers: [a, b], services: [s1, s2] }, options), dockerSync({ containers: [b, a], services: [s2, s1] }, options));
});

// [attempt, random, expected ms] for base 100, cap 3000
const delays: Array<[number, number, number]> = [[0, 0, 50], [0, 1, 100], [1, 0.5, 150], [3, 1, 800], [5, 0, 1500], [5, 1, 3000], [40, 0.5, 2250], [-1, 0, 50]];
for (const [attempt, random, expected] of delays) {
  test(`backoff: attempt ${attempt} with jitter ${random} waits ${expected} ms`, (t) => {
    t.is(backoffDelay(attempt, { baseMs: 100, capMs: 3000 }, random), expected);
  });
}

// [event line, relevant?]
const events: Array<[string, boolean]> = [
  ['{"Type":"container","Action":"start","Actor":{"ID":"a","Attributes":{"com.df.notify":"true"}}}', true],
  ['{"Type":"container","Action":"health_status: unhealthy","Actor":{"ID":"a","Attributes":{"com.df.notify":"true"}}}', true],
  ['{"Type":"container","Action":"start","Actor":{"ID":"a","Attributes":{"other":"x"}}}', false],
  ['{"Type":"container","Action":"exec_start: sh","Actor":{"ID":"a","Attributes":{"com.df.notify":"true"}}}', false],
  ['{"Type":"service","Action":"update","Actor":{"ID":"s","Attributes":{"name":"web"}}}', true],
  ['{"Type":"network","Action":"connect","Actor":{"ID":"n","Attributes":{"container":"a"}}}', true],
  ['{"Type":"image","Action":"pull","Actor":{"ID":"i","Attributes":{}}}', false],
  ['not json', true],
  // A task container carries its service's id, not its labels: it counts for services routed to their tasks only.
  ['{"Type":"container","Action":"kill","Actor":{"ID":"c","Attributes":{"com.docker.swarm.service.id":"routed","signal":"15"}}}', true],
  ['{"Type":"container","Action":"kill","Actor":{"ID":"c","Attributes":{"com.docker.swarm.service.id":"on-vip","signal":"15"}}}', false],
  ['{"Type":"container","Action":"exec_die","Actor":{"ID":"c","Attributes":{"com.docker.swarm.service.id":"routed"}}}', false],
];
for (const [line, relevant] of events) {
  test(`event ${line.slice(0, 60)} ${relevant ? 'asks for' : 'does not ask for'} a resync`, (t) => {
    t.is(isRelevant(parseEvent(line), 'com.df.notify', new Set(['routed'])), relevant);
  });
}

// [DOCKER_HOST, endpoint]
const hosts: Array<[string, ReturnType<typeof parseDockerHost>]> = [
  ['unix:///var/run/docker.sock', { socketPath: '/var/run/docker.sock' }],
  ['/tmp/d.sock', { socketPath: '/tmp/d.sock' }],
  ['tcp://127.0.0.1:2375', { host: '127.0.0.1', port: 2375 }],
  ['tcp://[::1]:2375', { host: '::1', port: 2375 }],
  ['tcp://docker:99999', undefined],
  ['ssh://user@host', undefined],
  ['unix://relative.sock', undefined],
];
for (const [value, endpoint] of hosts) {
  test(`DOCKER_HOST ${value}`, (t) => {
    t.deepEqual(parseDockerHost(value), endpoint);
  });
}

test('a listed task is cut down to its state, its container and its addresses without the ingress', (t) => {
  const net = (name: string, ingress = false) => ({ Spec: { Name: name, ...(ingress && { Ingress: true }) } });
  t.deepEqual(toTask({
    ID: 't1', ServiceID: 's', DesiredState: 'running', Status: { State: 'running', ContainerStatus: { ContainerID: 'c1' } },
    NetworksAttachments: [{ Network: net('ingress', true), Addresses: ['10.0.0.9/24'] }, { Network: net('edge'), Addresses: ['10.231.0.5/24', 'fd00::5/64'] }],
  }), { id: 't1', state: 'running', containerId: 'c1', addresses: [{ network: 'edge', ip: '10.231.0.5' }, { network: 'edge', ip: 'fd00::5' }] });
  // Listed by a desired-state=running filter that raced an update: on its way out, never a server.
  const leaving = toTask({ ID: 't2', DesiredState: 'shutdown', Status: { State: 'running' } });
  t.is(leaving.state, 'desired shutdown');
  t.is(leaving.containerId, undefined, 'no container yet: nothing to follow');
  t.deepEqual(dockerSync({ containers: [], services: [service('api', { ...toTasks }, { tasks: [leaving, task('t3', '10.0.1.5')] })] }, options).entries[0]?.spec.servers, [{ host: '10.0.1.5', id: 't3' }]);
});

// [what, service, SWARM_ROUTING, routed to its tasks?] : the one decision readState (which tasks to list),
// the mapping and the loop (which events and polls count) share.
const routing: Array<[string, Partial<DockerSwarmService> & { labels: Record<string, string> }, 'vip' | 'tasks', boolean]> = [
  ['its label', { labels: { 'com.df.swarmRouting': 'tasks' } }, 'vip', true],
  ['its label, whatever the case', { labels: { 'com.df.SWARMROUTING': 'TASKS' } }, 'vip', true],
  ['its label wins over SWARM_ROUTING', { labels: { 'com.df.swarmRouting': 'vip' } }, 'tasks', false],
  ['SWARM_ROUTING', { labels: {} }, 'tasks', true],
  ['the VIP by default', { labels: {} }, 'vip', false],
  ['not on the host network', { labels: { 'com.df.swarmRouting': 'tasks' }, hostNetwork: true }, 'tasks', false],
  ['not at 0 replicas (removed)', { labels: { 'com.df.swarmRouting': 'tasks' }, replicas: 0 }, 'tasks', false],
  ['a host of its own wins over SWARM_ROUTING', { labels: { 'com.df.outboundHostname.1': 'x' } }, 'tasks', false],
  ['a discoveryType of its own too', { labels: { 'com.df.discoveryType': 'DNS' } }, 'tasks', false],
];
for (const [what, more, fallback, expected] of routing) {
  test(`routed to its tasks: ${what}`, (t) => {
    t.is(routesToTasks({ ...service('x', {}), ...more }, fallback), expected);
  });
}
