import test from 'ava';
import { merge, tag } from '../../src/adapters/docker/engineStates.js';
import type { DockerContainer, DockerState } from '../../src/adapters/docker/labels.js';

const box = (id: string, name = 'web-1'): DockerContainer => ({ id, name, labels: {}, state: 'running', health: 'none', networkMode: 'host', networks: [], ports: [], created: 1 });
const listing = (...ids: string[]): DockerState => ({ containers: ids.map((id) => box(id)), services: [{ id: `svc-${ids[0]}`, name: 's', labels: {}, mode: 'global', hostNetwork: false }] });

test('an engine\'s listing carries its name, and with several engines an identity <engine>/<id>', (t) => {
  const several = tag(listing('111'), 'b', true);
  t.deepEqual(several.containers.map((c) => [c.id, c.engine]), [['b/111', 'b']]);
  t.deepEqual(several.services.map((s) => [s.id, s.engine]), [['b/svc-111', 'b']]);
  const single = tag(listing('111'), 'local', false);
  t.deepEqual(single.containers.map((c) => [c.id, c.engine]), [['111', 'local']]);
});

test('merged listings keep every engine\'s containers; the same container listed by two entries counts once, for the first', (t) => {
  const merged = merge([tag(listing('111', '222'), 'a', true), tag(listing('333'), 'b', true), tag(listing('111'), 'again', true)]);
  t.deepEqual(merged.containers.map((c) => c.id), ['a/111', 'a/222', 'b/333']);
  t.deepEqual(merged.services.map((s) => s.id), ['a/svc-111', 'b/svc-333']);
});

test('a swarm service listed by two managers comes from the one that answered this read: a manager that is down lists old tasks', (t) => {
  const task = (id: string) => ({ id, state: 'running', addresses: [{ network: 'edge', ip: '10.0.1.5' }] });
  const withTasks = (ids: string[]): DockerState => ({ containers: [], services: [{ id: 'svc', name: 'api', labels: {}, mode: 'replicated', replicas: 1, hostNetwork: false, tasks: ids.map(task) }] });
  const down = tag(withTasks(['old-task']), 'm1', true);
  const up = tag(withTasks(['new-task']), 'm2', true);
  // Engines in their configured order (m1 first); m2 answered now, m1 is down.
  const merged = merge([down, up], [up, down]);
  t.deepEqual(merged.services.map((s) => s.tasks?.map((x) => x.id)), [['new-task']]);
  t.is(merged.services[0]?.engine, 'm2');
  t.deepEqual(merge([down, up]).services.map((s) => s.tasks?.map((x) => x.id)), [['old-task']], 'without the answered order, the first engine wins (as for containers)');
});
