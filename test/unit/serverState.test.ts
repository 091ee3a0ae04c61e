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

// The filter reads the dump in place (slices of runs of kept lines). The reference is the filter as it was before, line by
// line (split, then fields), on random dumps: comments, blank and white-space lines, odd spacing, CRs, forced and
// HAProxy's own admin states, weights, moved and unknown servers, and a last line with or without its line break.
function lineByLine(saved: string, configured: ConfiguredServers): string {
  const bare = (host: string) => host.replace(/^\[|\]$/g, '');
  const isLiteralAddress = (host: string) => /^\d{1,3}(\.\d{1,3}){3}$/.test(bare(host)) || bare(host).includes(':');
  const fieldEnds = (line: string, ends: Int32Array) => {
    let from = 0;
    for (let i = 0; i < ends.length - 1; i++) {
      const space = line.indexOf(' ', from);
      if (space < 0) return false;
      ends[i] = space;
      from = space + 1;
    }
    if (line.indexOf(' ', from) >= 0) return false;
    ends[ends.length - 1] = line.length;
    return true;
  };
  const lines = saved.split('\n');
  if (lines[0]?.trim() !== '1') return EMPTY_STATE;
  const header = lines.find((l) => l.startsWith('# '))?.slice(2).trim().split(/\s+/) ?? [];
  const col = (name: string) => header.indexOf(name);
  const at = { backend: col('be_name'), server: col('srv_name'), addr: col('srv_addr'), admin: col('srv_admin_state'), uweight: col('srv_uweight'), iweight: col('srv_iweight'), port: col('srv_port') };
  if (Object.values(at).some((i) => i < 0)) return EMPTY_STATE;
  const out = ['1', `# ${header.join(' ')}`];
  const ends = new Int32Array(header.length);
  for (const raw of lines.slice(1)) {
    if (raw.startsWith('#') || raw.trim() === '') continue;
    let line = raw;
    if (!fieldEnds(line, ends)) {
      line = raw.trim().split(/\s+/).join(' ');
      if (!fieldEnds(line, ends)) continue;
    }
    const field = (i: number) => line.slice(i === 0 ? 0 : (ends[i - 1] as number) + 1, ends[i]);
    const admin = Number(field(at.admin));
    if (!Number.isInteger(admin) || (admin & 0x09) !== 0) continue;
    const server = configured.get(field(at.backend))?.get(field(at.server));
    if (server && isLiteralAddress(server.host) && (bare(server.host) !== field(at.addr) || String(server.port) !== field(at.port))) continue;
    if (server && server.checked === false) continue;
    if (field(at.uweight) === field(at.iweight)) {
      out.push(line);
      continue;
    }
    const f = line.split(' ');
    f[at.uweight] = f[at.iweight] as string;
    out.push(f.join(' '));
  }
  return `${out.join('\n')}\n`;
}

test('reading the dump in place gives what reading it line by line gave', (t) => {
  let x = 7;
  const next = () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return x / 2 ** 31;
  };
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
  const servers = new Map<string, ReadonlyMap<string, { host: string; port: number; checked?: boolean }>>([...configured, ['v6-be80_0', new Map([['s-6', { host: '[::1]', port: 80 }]])]]);
  for (let round = 0; round < 1000; round++) {
    const lines: string[] = [];
    for (let i = 0; i < 1 + Math.floor(next() * 12); i++) {
      const r = next();
      if (r < 0.1) lines.push(pick(['# a comment', '', '   ', '\t', '\r', '\u3000', '\ufeff', ' \u2028 ']));
      else {
        let l = line({ be: pick(['web-be9000_0', 'vip-be80_0', 'unchecked', 'other', 'v6-be80_0']), srv: pick(['s-a', 's-v', 's-u', 's-x', 's-6']), addr: pick(['127.0.0.1', '127.0.0.9', '10.0.0.5', '::1']), admin: pick([0, 0, 0, 1, 0x08, 0x20, 0x04]), uweight: pick([1, 1, 0, 7]), iweight: pick([1, 1, 3]), port: pick([9000, 9000, 80, 9001]) });
        if (r > 0.85) l = pick([`  ${l}`, `${l} `, `${l}\r`, ` #${l}`, l.replace(' 1 ', '   1 '), l.replace(/ /g, '\u3000'), `${l} extra`, l.split(' ').slice(0, 9).join(' ')]);
        lines.push(l);
      }
    }
    const saved = `1\n${HEADER}\n${lines.join(pick(['\n', '\n', '\r\n']))}${pick(['\n', '\n\n', ''])}`;
    t.is(carryOverServerState(saved, servers), lineByLine(saved, servers), JSON.stringify(saved));
  }
});
