import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import test from 'ava';
import { HaproxyProcess } from '../../src/adapters/haproxy/process.js';
import { alive, socketsOf } from '../../src/adapters/haproxy/pids.js';
import { silentLog } from '../../src/core/log.js';
import { freePort } from '../support/ports.js';
import { tempDir } from '../support/tmp.js';

/** A config whose frontend answers which generation it is. */
function config(dir: string, port: number, generation: number): string {
  return [
    'global',
    `    stats socket ${path.join(dir, 'admin.sock')} mode 600 level admin expose-fd listeners`,
    '    httpclient.ssl.verify none',
    'defaults',
    '    mode http',
    '    timeout connect 1s',
    '    timeout client 30s',
    '    timeout server 30s',
    '    timeout http-keep-alive 30s',
    'frontend f',
    `    bind 127.0.0.1:${port}`,
    `    http-request return status 200 content-type text/plain string gen-${generation}`,
    '',
  ].join('\n');
}

test('a reload is answered once the new worker serves and the old one holds none of the listeners it passed on', async (t) => {
  const dir = tempDir('fp-process-');
  const port = await freePort();
  const paths = { bin: 'haproxy', config: path.join(dir, 'haproxy.cfg'), pidFile: path.join(dir, 'haproxy.pid'), masterSocket: path.join(dir, 'master.sock'), adminSocket: path.join(dir, 'admin.sock'), logFile: path.join(dir, 'haproxy.log') };
  fs.writeFileSync(paths.config, config(dir, port, 0));
  const haproxy = new HaproxyProcess(paths, silentLog);
  await haproxy.start();
  const get = () =>
    new Promise<string>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve(body));
      }).on('error', reject);
    });
  const held: net.Socket[] = [];
  try {
    for (let generation = 1; generation <= 10; generation++) {
      t.is(await get(), `gen-${generation - 1}`);
      // A request half sent keeps the old worker alive after its reload, so what it still holds can be seen.
      const pending = net.connect(port, '127.0.0.1');
      held.push(pending);
      await new Promise((resolve) => pending.on('connect', resolve));
      pending.write('GET / HTTP/1.1\r\nHost: x\r\n');
      await new Promise((resolve) => setTimeout(resolve, 50));
      const oldWorker = (await haproxy.showProc()).workers[0]!.pid;
      const before = socketsOf(oldWorker)!;
      fs.writeFileSync(paths.config, config(dir, port, generation));
      const result = await haproxy.reload();
      t.true(result.ok, result.message);
      const after = socketsOf(result.workerPid!)!;
      // The premise of the check: HAProxy hands the old worker's listening sockets to the new one.
      t.true([...before].some((s) => after.has(s)), 'the new worker holds sockets the old one had');
      t.true(alive(oldWorker), 'the old worker still finishes its keep-alive connection');
      t.deepEqual([...(socketsOf(oldWorker) ?? [])].filter((s) => after.has(s)), [], 'the old worker no longer holds a listener');
      // Every new connection after the answer reaches the new config.
      const answers = await Promise.all(Array.from({ length: 20 }, () => get()));
      t.deepEqual([...new Set(answers)], [`gen-${generation}`]);
      pending.destroy();
    }
  } finally {
    for (const s of held) s.destroy();
    await haproxy.stop(1000);
  }
});
