import test from 'ava';
import { MAP_DIR_TOKEN, type ConfigFiles } from '../../src/core/ports.js';
import { configDiff } from '../../src/http/configDiff.js';
import { peerStatus } from '../../src/http/peerStatus.js';
import { parseServerStats } from '../../src/http/statsCsv.js';

const files = (config: string, maps: Record<string, string>): ConfigFiles => ({ config, maps, servers: () => new Map() });

test('configDiff: one unified diff per changed file, map directory shown, passwords redacted, empty when equal', (t) => {
  const live = files(`global\nuserlist u\n    user bob insecure-password old-secret\nfrontend f\n    http-request set-var(txn.fp_be) path,map_beg(${MAP_DIR_TOKEN}/path_prefix.map)\n`, { 'path_prefix.map': '/a a\n', 'host_root.map': '' });
  const next = files(`global\nuserlist u\n    user bob insecure-password new-secret\nfrontend f\n    http-request set-var(txn.fp_be) path,map_beg(${MAP_DIR_TOKEN}/path_prefix.map)\n    stats auth admin:pw\n`, { 'path_prefix.map': '/a a\n/b b\n', 'host_root.map': '' });
  const diff = configDiff(live, next, '/data/haproxy/maps');
  t.is(diff, [
    '--- a/haproxy.cfg',
    '+++ b/haproxy.cfg',
    '@@ -3,3 +3,4 @@',
    '     user bob insecure-password <redacted>',
    ' frontend f',
    '     http-request set-var(txn.fp_be) path,map_beg(/data/haproxy/maps/path_prefix.map)',
    '+    stats auth admin:<redacted>',
    '--- a/maps/path_prefix.map',
    '+++ b/maps/path_prefix.map',
    '@@ -1,1 +1,2 @@',
    ' /a a',
    '+/b b',
    '',
  ].join('\n'));
  t.false(diff.includes('secret'));
  t.is(configDiff(live, live, '/x'), '');
});

test('configDiff: a map file that appears or disappears is diffed against nothing', (t) => {
  const diff = configDiff(files('x\n', {}), files('x\n', { 'path_exact.map': '/e e\n' }), '/m');
  t.regex(diff, /^--- a\/maps\/path_exact\.map\n\+\+\+ b\/maps\/path_exact\.map\n@@ -0,0 \+1(,1)? @@\n\+\/e e\n$/);
});

test('show stat CSV: server rows by backend, FRONTEND and BACKEND rows left out', (t) => {
  const csv = [
    '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,addr',
    'services,FRONTEND,,,1,2,5000,3,0,0,0,0,0,,,,,OPEN,,,,,,,,,1,2,0,,,,0,0,0,1,,,,0,',
    'web-be3000_0,s-1,0,0,2,3,,9,0,0,,0,,0,0,0,0,UP,1,1,0,0,0,12,0,,1,3,1,,9,,2,0,,1,L4OK,,0,0,127.0.0.1:3000',
    'web-be3000_0,s-2,0,0,0,0,,0,0,0,,0,,0,0,0,0,DOWN 1/2,1,1,0,1,1,3,3,,1,3,2,,0,,2,0,,0,L4CON,,1,0,127.0.0.1:3001',
    'web-be3000_0,BACKEND,0,0,2,3,500,9,0,0,0,0,,0,0,0,0,UP,1,1,0,,0,12,0,,1,3,0,,9,,1,0,,1,,,,0,',
    '',
  ].join('\n');
  const stats = parseServerStats(csv);
  t.deepEqual([...stats.keys()], ['web-be3000_0']);
  t.deepEqual(stats.get('web-be3000_0')?.get('s-1'), { backend: 'web-be3000_0', server: 's-1', status: 'UP', check: 'L4OK', lastChange: 12, sessions: 2, address: '127.0.0.1:3000' });
  t.is(stats.get('web-be3000_0')?.get('s-2')?.status, 'DOWN 1/2');
  t.is(parseServerStats('').size, 0);
});

test('peer states: in sync, differs, unreachable; one round per ttl', async (t) => {
  let now = 0;
  let rounds = 0;
  const status = peerStatus({
    peers: async () => {
      rounds++;
      return ['a:1', 'b:1', 'c:1'];
    },
    localDigest: () => 'D',
    fetchDigest: async (peer) => {
      if (peer === 'c:1') throw new Error('connect ECONNREFUSED');
      return peer === 'a:1' ? 'D' : 'E';
    },
    ttlMs: 2000,
    now: () => now,
  });
  const first = await status();
  t.deepEqual(first.map((p) => [p.Peer, p.State, p.Error]), [['a:1', 'in-sync', undefined], ['b:1', 'differs', undefined], ['c:1', 'unreachable', 'connect ECONNREFUSED']]);
  now = 1000;
  await status();
  t.is(rounds, 1, 'cached');
  now = 3001;
  await status();
  t.is(rounds, 2);
});
