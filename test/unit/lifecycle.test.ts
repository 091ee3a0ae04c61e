import test from 'ava';
import { ContainerLifecycle, type LifecycleEvent } from '../../src/adapters/docker/lifecycle.js';
import { dockerSync, type DockerContainer, type DockerState } from '../../src/adapters/docker/labels.js';
import { parseCtx } from '../support/render.js';

const web = (id: string, port: number, over: Partial<DockerContainer> = {}): DockerContainer => ({
  id,
  name: id,
  labels: { 'com.df.notify': 'true', 'com.df.serviceName': 'web', 'com.df.servicePath': '/web', 'com.df.port': String(port) },
  state: 'running',
  health: 'none',
  networkMode: 'host',
  networks: [],
  ports: [],
  created: 1,
  ...over,
});

const ev = (action: string, id: string, attributes: Record<string, string> = {}): LifecycleEvent => ({ type: 'container', action, id, attributes });

/** The servers of service web after mapping the state with what the events said. */
function servers(life: ContainerLifecycle, state: DockerState): string[] {
  const { entries } = dockerSync(life.apply(state), { notifyLabel: 'com.df.notify', parseContext: parseCtx });
  return (entries.find((e) => e.name === 'web')?.spec.servers ?? []).map((s) => s.id as string).sort();
}

const three: DockerState = { containers: [web('a', 1), web('b', 2), web('c', 3)], services: [] };

test('kill with an ending signal takes the container out at once, although Docker still lists it as running', (t) => {
  const life = new ContainerLifecycle();
  t.true(life.note(ev('kill', 'b', { signal: '15' })));
  t.deepEqual(servers(life, three), ['a', 'c']);
});

test('docker kill (SIGKILL, no stop event) takes it out; a kill with a signal that does not end the process does not', (t) => {
  const life = new ContainerLifecycle();
  t.false(life.note(ev('kill', 'a', { signal: '1' })), 'SIGHUP (a reload) leaves it in');
  t.false(life.note(ev('kill', 'a', { signal: 'SIGUSR1' })));
  t.deepEqual(servers(life, three), ['a', 'b', 'c']);
  t.true(life.note(ev('kill', 'a', { signal: '9' })));
  t.deepEqual(servers(life, three), ['b', 'c']);
});

test('a stale "running" in a resync after die does not bring the server back', (t) => {
  const life = new ContainerLifecycle();
  life.note(ev('die', 'c', { exitCode: '0' }));
  // The resync right after the event: Docker has not caught up yet.
  t.deepEqual(servers(life, three), ['a', 'b']);
  t.deepEqual(servers(life, three), ['a', 'b'], 'and again on the next resync');
});

test('start (a restart) brings it back; what the list no longer shows is forgotten', (t) => {
  const life = new ContainerLifecycle();
  life.note(ev('kill', 'a', { signal: '15' }));
  life.note(ev('die', 'a'));
  life.note(ev('start', 'a'));
  t.deepEqual(servers(life, three), ['a', 'b', 'c']);
  life.note(ev('stop', 'b'));
  const gone: DockerState = { containers: [web('a', 1), web('c', 3)], services: [] };
  t.deepEqual(servers(life, gone), ['a', 'c']);
  t.deepEqual(life.endingContainers(), [], 'b is no longer listed: nothing to remember');
});

test('health_status: unhealthy drains before the list says so; healthy brings it back', (t) => {
  const life = new ContainerLifecycle();
  t.true(life.note(ev('health_status: unhealthy', 'b')));
  t.deepEqual(servers(life, three), ['a', 'c']);
  t.true(life.note(ev('health_status: healthy', 'b')));
  t.deepEqual(servers(life, three), ['a', 'b', 'c']);
});

test('events of other types, and ones that change nothing, say so', (t) => {
  const life = new ContainerLifecycle();
  t.false(life.note({ type: 'service', action: 'update', id: 'x', attributes: {} }));
  t.false(life.note(ev('start', 'a')));
  t.true(life.note(ev('pause', 'a')));
  t.false(life.note(ev('pause', 'a')), 'already out');
  t.true(life.note(ev('unpause', 'a')));
});

// Swarm services routed to their tasks: the task containers' events drain the tasks.
const taskState = (states: Record<string, string> = {}): DockerState => ({
  containers: [],
  services: [{
    id: 'sid', name: 'api', mode: 'replicated', replicas: 3, hostNetwork: false,
    labels: { 'com.df.notify': 'true', 'com.df.servicePath': '/api', 'com.df.port': '80', 'com.df.swarmRouting': 'tasks' },
    tasks: ['t1', 't2', 't3'].map((id, i) => ({ id, state: states[id] ?? 'running', containerId: `${id}-c`, addresses: [{ network: 'edge', ip: `10.0.1.${i + 5}` }] })),
  }],
});

function taskServers(life: ContainerLifecycle, state: DockerState): string[] {
  const { entries } = dockerSync(life.apply(state), { notifyLabel: 'com.df.notify', parseContext: parseCtx });
  return (entries.find((e) => e.name === 'api')?.spec.servers ?? []).map((s) => s.id as string).sort();
}

test('a task container killed (docker service update, a crash) takes its task out although swarm still lists it running', (t) => {
  const life = new ContainerLifecycle();
  t.deepEqual(taskServers(life, taskState()), ['t1', 't2', 't3']);
  t.true(life.note(ev('kill', 't2-c', { signal: '15', 'com.docker.swarm.service.id': 'sid' })));
  t.deepEqual(taskServers(life, taskState()), ['t1', 't3']);
  t.deepEqual(taskServers(life, taskState()), ['t1', 't3'], 'a later stale list does not bring it back');
  // Once swarm no longer lists the task, its note is forgotten.
  const gone = taskState();
  const [svc] = gone.services;
  const without: DockerState = { containers: [], services: [{ ...(svc as NonNullable<typeof svc>), tasks: (svc?.tasks ?? []).filter((x) => x.id !== 't2') }] };
  t.deepEqual(taskServers(life, without), ['t1', 't3']);
  t.deepEqual(taskServers(life, taskState()), ['t1', 't2', 't3'], 'forgotten: a listed task with that container is a server again');
});

test('an unhealthy task container is out until it is healthy again; events from several engines (engine/id) match too', (t) => {
  const life = new ContainerLifecycle();
  t.true(life.note(ev('health_status: unhealthy', 'node2/t3-c')));
  t.deepEqual(taskServers(life, taskState()), ['t1', 't2']);
  t.true(life.note(ev('health_status: healthy', 'node2/t3-c')));
  t.deepEqual(taskServers(life, taskState()), ['t1', 't2', 't3']);
});
