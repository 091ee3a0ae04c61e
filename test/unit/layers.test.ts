import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { ROOT } from '../support/flowProxy.js';

// The import rules of docs/architecture.md, checked on the sources: domain and
// render import nothing above them, core imports no adapter and no http, and
// adapters take from core only its ports, types and shared utilities.

const SRC = path.join(ROOT, 'src');

interface Import {
  file: string;
  target: string;
  typeOnly: boolean;
}

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const full = path.join(dir, d.name);
    return d.isDirectory() ? sources(full) : d.name.endsWith('.ts') ? [full] : [];
  });
}

function importsOf(file: string): Import[] {
  const text = fs.readFileSync(file, 'utf8');
  const found: Import[] = [];
  for (const m of text.matchAll(/^(import|export)\s+(type\s+)?[^;]*?from\s+'(\.[^']+)'/gms)) {
    const target = path.relative(SRC, path.resolve(path.dirname(file), m[3] as string)).replace(/\.js$/, '.ts');
    found.push({ file: path.relative(SRC, file), target, typeOnly: m[2] !== undefined });
  }
  return found;
}

const all = sources(SRC).flatMap(importsOf);
const layer = (p: string) => p.split(path.sep)[0] as string;
const show = (list: Import[]) => list.map((i) => `${i.file} -> ${i.target}${i.typeOnly ? ' (type)' : ''}`);

test('the sources were read (the check cannot pass on an empty tree)', (t) => {
  t.true(all.length > 200, `${all.length} imports`);
  t.true(all.some((i) => i.file.startsWith('core') && i.target.startsWith('domain')));
});

test('domain imports only domain', (t) => {
  t.deepEqual(show(all.filter((i) => layer(i.file) === 'domain' && layer(i.target) !== 'domain')), []);
});

test('render imports only domain and render', (t) => {
  t.deepEqual(show(all.filter((i) => layer(i.file) === 'render' && !['domain', 'render'].includes(layer(i.target)))), []);
});

test('core imports no adapter, no http and not the composition root', (t) => {
  t.deepEqual(show(all.filter((i) => layer(i.file) === 'core' && !['domain', 'render', 'core'].includes(layer(i.target)))), []);
});

test("adapters take from core only ports, types and the shared utilities, never the engine", (t) => {
  const shared = new Set(['core/log.ts', 'core/backoff.ts']);
  const crossing = all.filter((i) => layer(i.file) === 'adapters' && layer(i.target) === 'core' && !i.typeOnly && !shared.has(i.target) && !/Ports?\.ts$|ports\.ts$/.test(i.target));
  t.deepEqual(show(crossing), []);
  t.deepEqual(show(all.filter((i) => layer(i.file) === 'adapters' && ['http', 'proxy.ts', 'replicas.ts', 'acme.ts'].includes(layer(i.target)))), []);
});

test('a source file over 300 lines says at its top why it is long', (t) => {
  const long = sources(SRC)
    .map((file) => ({ file: path.relative(SRC, file), text: fs.readFileSync(file, 'utf8') }))
    .filter(({ text }) => text.trimEnd().split('\n').length > 300);
  t.true(long.length > 0, 'the check sees the long files');
  t.deepEqual(long.filter(({ text }) => !/^\/\/ Long on purpose: \S/.test(text)).map(({ file }) => file), []);
});
