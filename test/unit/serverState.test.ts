import test from 'ava';
import { carryOverServerState, EMPTY_STATE, type ConfiguredServers } from '../../src/adapters/haproxy/serverState.js';

const HEADER = '# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port';

/** One line of `show servers state` as HAProxy 2.6 prints it. */
function line(o: { be: string; srv: string; addr?: string; op?: number; admin?: number; uweight?: number; iweight?: number; fqdn?: string; port?: number }): string {
  return `4 ${o.be} 1 ${o.srv} ${o.addr ?? '127.0.0.1'} ${o.op ?? 2} ${o.admin ?? 0} ${o.uweight ?? 1} ${o.iweight ?? 1} 0 1 0 0 0 0 0 0 ${o.fqdn ?? '-'} ${o.port ?? 9000} - 0 0 - - 0`;
}

const dump = (...lines: string[]) => `1\n${HEADER}\n${lines.join('\n')}\n\n`;
const kept = (out: string) => out.split('\n').filter((l) => l !== '' && !l.startsWith('#') && l !== '1').map((l) => l.split(' ').slice(1, 4).filter((_, i) => i !== 1).join('/'));

const configured: ConfiguredServers = new Map([
  ['web-be9000_0', new Map([['s-a', { host: '127.0.0.1', port: 9000 }]])],
  ['vip-be80_0', new Map([['s-v', { host: 'vip', port: 80 }]])],
  ['unchecked', new Map([['s-u', { host: '127.0.0.1', port: 9000, checked: false }]])],
]);

const cases: Array<[string, string, string[]]> = [
  // The measured failure (issue 12): a server left in maintenance by a deferred delete came back in maintenance.
  ['a server the runtime path put in maintenance starts from the config', dump(line({ be: 'web-be9000_0', srv: 's-a', op: 0, admin: 1 })), []],
  ['a drained server starts from the config', dump(line({ be: 'web-be9000_0', srv: 's-a', admin: 0x08 })), []],
  ['a healthy server keeps its state', dump(line({ be: 'web-be9000_0', srv: 's-a' })), ['web-be9000_0/s-a']],
  ['a server the config places elsewhere starts from the config', dump(line({ be: 'web-be9000_0', srv: 's-a', addr: '127.0.0.9' })), []],
  ['a server on another port starts from the config', dump(line({ be: 'web-be9000_0', srv: 's-a', port: 9001 })), []],
  ['an address HAProxy resolved for a name keeps', dump(line({ be: 'vip-be80_0', srv: 's-v', addr: '10.0.0.5', fqdn: 'vip', port: 80 })), ['vip-be80_0/s-v']],
  ['inherited and resolution maintenance (not forced) are HAProxy\'s own and keep', dump(line({ be: 'vip-be80_0', srv: 's-v', admin: 0x20, port: 80 })), ['vip-be80_0/s-v']],
  ['servers the filter does not know about keep (HAProxy ignores those its config lacks)', dump(line({ be: 'other', srv: 's-x' })), ['other/s-x']],
  ['a server no longer checked starts from the config (a "down" it kept could never end)', dump(line({ be: 'unchecked', srv: 's-u', op: 0 })), []],
  ['a short line is dropped, never guessed at', `1\n${HEADER}\n4 web-be9000_0 1 s-a 127.0.0.1 2 0\n`, []],
];

for (const [name, saved, expected] of cases) {
  test(name, (t) => {
    t.deepEqual(kept(carryOverServerState(saved, configured)), expected);
  });
}

test('weights go back to the configured ones', (t) => {
  const out = carryOverServerState(dump(line({ be: 'web-be9000_0', srv: 's-a', uweight: 0, iweight: 1 })), configured);
  const fields = out.split('\n')[2]?.split(' ') ?? [];
  t.is(fields[7], '1', 'srv_uweight');
  t.is(fields[8], '1', 'srv_iweight');
});

test('an unknown dump version or header gives an empty state (a fresh start), not a half-read one', (t) => {
  t.is(carryOverServerState(`2\n${HEADER}\n${line({ be: 'web-be9000_0', srv: 's-a' })}\n`, configured), EMPTY_STATE);
  t.is(carryOverServerState(`1\n# be_id be_name\n${line({ be: 'web-be9000_0', srv: 's-a' })}\n`, configured), EMPTY_STATE);
});

test('a kept line is written as HAProxy dumped it; one with doubled or trailing spaces is read the slow way and written with single spaces', (t) => {
  const plain = line({ be: 'web-be9000_0', srv: 's-a' });
  t.is(carryOverServerState(dump(plain), configured).split('\n')[2], plain);
  const spaced = `${plain.replace(' s-a ', '  s-a   ')} `;
  t.is(carryOverServerState(dump(spaced), configured).split('\n')[2], plain);
  // One field too many or too few is dropped either way.
  t.is(carryOverServerState(dump(`${plain} extra`), configured), `1\n${HEADER}\n`);
});
