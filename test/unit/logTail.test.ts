import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { collapseStopLines, tailFile } from '../../src/adapters/haproxy/logTail.js';
import { tempDir } from '../support/tmp.js';

const stopped = (pid: number, name: string) => `[WARNING]  (${pid}) : Proxy ${name} stopped (cumulated conns: FE: 0, BE: 3).`;

test('an old worker\'s per-proxy stop messages become one line; everything else is kept in order', (t) => {
  const lines = [
    '[NOTICE]   (10) : Reloading HAProxy',
    stopped(11, 'http'),
    stopped(11, 'be_a'),
    '[WARNING]  (11) : CLI : Proxy _spare_1 stopped (cumulated conns: FE: 0, BE: 0).',
    '[NOTICE]   (10) : New worker (12) forked',
    stopped(13, 'only'),
    stopped(14, 'x'),
    stopped(14, 'y'),
    '[WARNING]  (10) : Former worker (11) exited with code 0 (Exit)',
  ];
  t.deepEqual(collapseStopLines(lines), [
    '[NOTICE]   (10) : Reloading HAProxy',
    '[WARNING]  (11) : 3 proxies stopped (old worker finishing after a reload).',
    '[NOTICE]   (10) : New worker (12) forked',
    stopped(13, 'only'),
    '[WARNING]  (14) : 2 proxies stopped (old worker finishing after a reload).',
    '[WARNING]  (10) : Former worker (11) exited with code 0 (Exit)',
  ]);
  t.deepEqual(collapseStopLines([]), []);
});

test('the followed file is emptied once read past its limit, and lines appended afterwards still arrive', async (t) => {
  const dir = tempDir('fp-tail-');
  const file = path.join(dir, 'haproxy.log');
  // As HAProxy's master has it: an inherited descriptor opened for appending.
  const fd = fs.openSync(file, 'a');
  const seen: string[] = [];
  const stop = new AbortController();
  t.teardown(() => {
    stop.abort();
    fs.closeSync(fd);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  tailFile(file, (line) => seen.push(line), stop.signal, { intervalMs: 10, maxBytes: 1000 });
  for (let i = 0; i < 40; i++) fs.writeSync(fd, `[NOTICE]   (1) : line ${i} ${'x'.repeat(40)}\n`);
  for (let i = 0; i < 500; i++) fs.writeSync(fd, `${stopped(2, `be_${i}`)}\n`);
  const deadline = Date.now() + 5000;
  while (fs.statSync(file).size !== 0 && Date.now() < deadline) await sleep(10);
  t.is(fs.statSync(file).size, 0, 'emptied after reading ~30 KB with a 1,000-byte limit');
  t.is(seen.length, 41);
  t.is(seen[39], `[NOTICE]   (1) : line 39 ${'x'.repeat(40)}`);
  t.is(seen[40], '[WARNING]  (2) : 500 proxies stopped (old worker finishing after a reload).');
  fs.writeSync(fd, '[ALERT]    (1) : after the truncation\n');
  while (seen.length < 42 && Date.now() < deadline) await sleep(10);
  t.is(seen[41], '[ALERT]    (1) : after the truncation');
  t.is(fs.statSync(file).size, '[ALERT]    (1) : after the truncation\n'.length, 'written at the new end, no hole before it');
});
