import test from 'ava';
import { diffTarget, explainQuery, parseArgs } from '../../src/cli/args.js';
import { formatDiff, formatExplain } from '../../src/cli/format.js';
import { formatSettingsHelp, SETTINGS_HELP } from '../../src/cli/settingsHelp.js';
import { SETTING_LIST } from '../../src/settings/schema.js';

test('commands and options parse; the proxy runs without a command', (t) => {
  t.deepEqual(parseArgs([]), { ok: true, command: { kind: 'run' } });
  t.deepEqual(parseArgs(['run']), { ok: true, command: { kind: 'run' } });
  t.deepEqual(parseArgs(['--help']), { ok: true, command: { kind: 'help' } });
  t.deepEqual(parseArgs(['status', '-h']), { ok: true, command: { kind: 'help' } });
  t.deepEqual(parseArgs(['status']), { ok: true, command: { kind: 'status', api: 'http://127.0.0.1:8080', json: false } });
  t.deepEqual(parseArgs(['--api=http://p:9000/', 'routes', '--json']), { ok: true, command: { kind: 'routes', api: 'http://p:9000', json: true } });
  t.deepEqual(parseArgs(['explain', 'http://a.com/x', '-XPOST', '-H', 'X-A: 1', '--header', 'X-B:2']), {
    ok: true,
    command: { kind: 'explain', api: 'http://127.0.0.1:8080', json: false, url: 'http://a.com/x', method: 'POST', headers: [['X-A', '1'], ['X-B', '2']] },
  });
  t.deepEqual(parseArgs(['diff', 'serviceName=a', 'port=1']), { ok: true, command: { kind: 'diff', api: 'http://127.0.0.1:8080', json: false, query: 'serviceName=a&port=1' } });
});

test('mistakes are sentences naming the argument', (t) => {
  const error = (args: string[]) => {
    const r = parseArgs(args);
    return r.ok ? '' : r.error;
  };
  t.regex(error(['nope']), /unknown command "nope"/);
  t.regex(error(['status', '-q']), /unknown option -q/);
  t.regex(error(['status', '--api']), /--api needs a value/);
  t.regex(error(['status', '--api', 'localhost:8080']), /--api "localhost:8080" must be an http/);
  t.regex(error(['explain', '/x', '-X', 'GE T']), /-X "GE T" is not an HTTP method/);
  t.regex(error(['explain']), /explain needs one URL or path/);
  t.regex(error(['explain', 'a', 'b']), /explain needs one URL or path/);
  t.regex(error(['status', 'extra']), /status takes no arguments \(got "extra"\)/);
  t.regex(error(['run', '--json']), /--json is for status, routes, explain and diff only/);
});

test('explain URLs keep the Host header as a client sends it; the port is sent only when known', (t) => {
  const q = (url: string, headers: Array<[string, string]> = []) => {
    const r = explainQuery(url, 'GET', headers);
    return typeof r === 'string' ? r : Object.fromEntries([...new Set(r.keys())].map((k) => [k, r.getAll(k).join('|')]));
  };
  t.deepEqual(q('http://Shop.Example.com:8080/a?b=1'), { path: '/a?b=1', host: 'Shop.Example.com:8080', method: 'GET', port: '8080' });
  t.deepEqual(q('https://a.com'), { path: '/', host: 'a.com', method: 'GET', port: '443' });
  t.deepEqual(q('a.com/x'), { path: '/x', host: 'a.com', method: 'GET' });
  t.deepEqual(q('/x', [['Host', 'b.com'], ['X-V', '2']]), { path: '/x', host: 'b.com', method: 'GET', header: 'X-V:2' });
  t.deepEqual(q('http://user:pw@a.com/x'), { path: '/x', host: 'a.com', method: 'GET' });
  t.regex(q('ftp://a.com/x') as string, /must be an http/);
});

test('diff arguments: a query, ?query, a reconfigure or remove URL; dryRun is always added by the CLI', (t) => {
  t.deepEqual(diffTarget('serviceName=a&port=1'), { endpoint: 'reconfigure', query: 'serviceName=a&port=1' });
  t.deepEqual(diffTarget('?serviceName=a&dryRun=false'), { endpoint: 'reconfigure', query: 'serviceName=a' });
  t.deepEqual(diffTarget('http://p:8080/v1/docker-flow-proxy/remove?serviceName=a'), { endpoint: 'remove', query: 'serviceName=a' });
  t.deepEqual(diffTarget('remove?serviceName=a'), { endpoint: 'remove', query: 'serviceName=a' });
});

test('human output of explain and diff', (t) => {
  const e = {
    Service: 'api', Backend: 'api-be1_0', Reason: 'route #1 of 2 (any host, path prefix /api) is the first route that matches',
    Candidates: [{ Service: 'web', Matched: true, Why: 'matched, but …', Route: '#2: any host, path prefix /' }],
    Notes: ['asks for basic authentication'], Request: { Host: 'a.com', Path: '/api', Port: 80, Method: 'GET' },
  };
  t.is(formatExplain('GET', 'http://a.com/api', e), [
    'GET http://a.com/api -> service api (backend api-be1_0)',
    '  matched as: host a.com, path /api, port 80',
    '  why: route #1 of 2 (any host, path prefix /api) is the first route that matches',
    '  note: asks for basic authentication',
    '',
    'Other routes:',
    '  matched   web  #2: any host, path prefix /',
    '            matched, but …',
  ].join('\n'));
  const body = { ServiceName: 'web', Kind: 'runtime', Reason: '1 route set', Checked: false, Diff: '--- a/maps/x.map\n+++ b/maps/x.map\n@@ -0,0 +1,1 @@\n+/a b\n' };
  t.is(formatDiff('reconfigure', body, false), 'Dry run of reconfigure web: runtime (1 route set). Nothing was changed.\n--- a/maps/x.map\n+++ b/maps/x.map\n@@ -0,0 +1,1 @@\n+/a b');
  t.regex(formatDiff('reconfigure', body, true), /\x1b\[32m\+\/a b\x1b\[0m/);
  t.regex(formatDiff('remove', { ...body, Kind: 'none', Diff: '' }, false), /No change to haproxy\.cfg or the maps\.$/);
});

test('--help lists every variable of the settings schema, in its order', (t) => {
  const listed = SETTINGS_HELP.flatMap((g) => g.settings.flatMap((s) => s.name.split(/,\s*/)));
  const defined = SETTING_LIST.flatMap((s) => [s.name, ...(s.also ?? [])]);
  t.true(defined.length > 90, `${defined.length} variables in the schema`);
  t.deepEqual(listed, defined);
  t.deepEqual(SETTINGS_HELP.map((g) => g.group), [...new Set(SETTING_LIST.map((s) => s.group))], 'each group is listed once');
  const text = formatSettingsHelp(100);
  t.true(text.split('\n').every((l) => l.length <= 100), 'wrapped');
  t.regex(text, /^ {4}STATS_PASS \(S\) +Password of the stats page\. \(default: unset\)$/m);
});
