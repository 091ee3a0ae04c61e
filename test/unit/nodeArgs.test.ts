import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { NODE_ARGS } from '../../src/nodeArgs.js';
import { ROOT } from '../support/flowProxy.js';

// `npm start` and the image run node with the options flow-proxy is measured with (src/nodeArgs.ts).

test('npm start and the image CMD pass every V8 option of NODE_ARGS', (t) => {
  const start = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start;
  const cmd = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8').split('\n').find((l) => l.startsWith('CMD ')) ?? '';
  t.true(NODE_ARGS.length > 0);
  for (const arg of NODE_ARGS) {
    t.true(start.split(' ').includes(arg), `npm start: ${start}`);
    t.true(cmd.includes(JSON.stringify(arg)), `Dockerfile: ${cmd}`);
  }
});
