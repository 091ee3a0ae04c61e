import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { linkOrCopy } from '../../src/adapters/fsAtomic.js';
import { HaproxyDataPlane } from '../../src/adapters/haproxy/dataPlane.js';
import { silentLog } from '../../src/core/log.js';
import { MAP_DIR_TOKEN, type ConfigFiles } from '../../src/core/ports.js';
import { tempDir } from '../support/tmp.js';

// The live files are written at every reload and after runtime changes: a map file that already holds its text is
// left alone, and one that does not (changed, replaced or removed by anything else) is always written.

const names = { resolveAll: async () => new Map<string, string | undefined>() };

function files(maps: Record<string, string>): ConfigFiles {
  const config = `global\nfrontend f\n    http-request set-var(txn.b) path,map_beg(${MAP_DIR_TOKEN}/path_prefix.map)\n    http-request set-var(txn.h) req.hdr(host),map_str(${MAP_DIR_TOKEN}/host_root.map)\n`;
  return { config, maps, servers: () => new Map() };
}

test('a map file is written again only when it does not hold its text', (t) => {
  const dir = tempDir('fp-files-');
  const plane = new HaproxyDataPlane({ haproxyBin: 'haproxy', dir, log: silentLog, names });
  const mapDir = plane.files.mapDir;
  const prefix = path.join(mapDir, 'path_prefix.map');
  const hosts = path.join(mapDir, 'host_root.map');
  const big = Array.from({ length: 2000 }, (_, i) => `/svc${i} svc${i}-be80_0\n`).join('');

  plane.writeLive(files({ 'path_prefix.map': big, 'host_root.map': 'a.test a-be80_0\n' }));
  t.is(fs.readFileSync(prefix, 'utf8'), big);
  const config = fs.readFileSync(plane.files.config, 'utf8');
  t.false(config.includes(MAP_DIR_TOKEN));
  t.true(config.includes(`map_beg(${mapDir}/path_prefix.map)`) && config.includes(`map_str(${mapDir}/host_root.map)`), 'the map directory is written where the token was, every time');

  // The same texts: neither file is replaced.
  const inode = fs.statSync(prefix).ino;
  plane.writeLive(files({ 'path_prefix.map': big, 'host_root.map': 'a.test a-be80_0\n' }));
  t.is(fs.statSync(prefix).ino, inode, 'an unchanged map is not written again');

  // A changed text is written.
  plane.writeLive(files({ 'path_prefix.map': big, 'host_root.map': 'b.test b-be80_0\n' }));
  t.is(fs.readFileSync(hosts, 'utf8'), 'b.test b-be80_0\n');

  // Replaced behind its back (a new file in its place, as a restore of the previous files does), or removed: written again.
  const other = path.join(dir, 'other');
  fs.writeFileSync(other, '/elsewhere x\n');
  fs.renameSync(other, prefix);
  plane.writeLive(files({ 'path_prefix.map': big, 'host_root.map': 'b.test b-be80_0\n' }));
  t.is(fs.readFileSync(prefix, 'utf8'), big, 'a file replaced by another is written again');
  fs.rmSync(prefix);
  plane.writeLive(files({ 'path_prefix.map': big, 'host_root.map': 'b.test b-be80_0\n' }));
  t.is(fs.readFileSync(prefix, 'utf8'), big, 'a removed file is written again');
});

test('keeping a file that is already the same file as its copy leaves no temporary name behind', (t) => {
  const dir = tempDir('fp-link-');
  const from = path.join(dir, 'a.map');
  const to = path.join(dir, 'previous.map');
  fs.writeFileSync(from, '/a a\n');
  linkOrCopy(from, to);
  t.is(fs.statSync(to).ino, fs.statSync(from).ino);
  // An unchanged map is not written again, so at the next commit it is linked onto a name that is already it.
  linkOrCopy(from, to);
  t.deepEqual(fs.readdirSync(dir).sort(), ['a.map', 'previous.map']);
  t.is(fs.readFileSync(to, 'utf8'), '/a a\n');
});
