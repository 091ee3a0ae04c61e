import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { SETTING_LIST } from '../../src/settings/schema.js';
import { ROOT } from '../support/flowProxy.js';

interface Row {
  name: string;
  default: string;
  secret: boolean;
  line: number;
}

/** The rows of every `| Variable | Default | Meaning |` table, one per variable named in the first cell. */
function readmeRows(text: string): Row[] {
  const rows: Row[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!/^\| Variable \| Default \| Meaning \|$/.test(lines[i] as string)) continue;
    for (let j = i + 2; j < lines.length && (lines[j] as string).startsWith('|'); j++) {
      const [, first = '', second = ''] = (lines[j] as string).split('|');
      const names = [...first.matchAll(/`([^`]+)`/g)].map((m) => m[1] as string);
      const shown = second.replaceAll('`', '').trim();
      // `A`, `B` | `x`, `y`: one default each; otherwise the row's default is every name's.
      const parts = shown.split(', ');
      const defaults = names.length > 1 && parts.length === names.length ? parts : names.map(() => shown);
      names.forEach((name, k) => rows.push({ name, default: defaults[k] as string, secret: first.includes('**S**'), line: j + 1 }));
    }
  }
  return rows;
}

const readme = readmeRows(fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8'));
const schema = SETTING_LIST.flatMap((s) => [s.name, ...(s.also ?? [])].map((name) => ({ name, default: s.default, secret: s.secret === true })));

test("the README's variable tables were found", (t) => {
  t.true(readme.length > 90, `${readme.length} rows`);
});

test('every variable of the schema is in the README once, with the same default and secret mark', (t) => {
  for (const v of schema) {
    const rows = readme.filter((r) => r.name === v.name);
    t.is(rows.length, 1, `${v.name}: ${rows.length} README rows`);
    const row = rows[0];
    if (!row) continue;
    t.is(row.default, v.default, `${v.name}: README line ${row.line} gives the default "${row.default}", the schema "${v.default}"`);
    t.is(row.secret, v.secret, `${v.name}: README line ${row.line} ${row.secret ? 'marks' : 'does not mark'} it **S**`);
  }
});

test('every variable the README lists is in the schema', (t) => {
  const known = new Set(schema.map((v) => v.name));
  t.deepEqual(readme.filter((r) => !known.has(r.name)).map((r) => `${r.name} (line ${r.line})`), []);
});
