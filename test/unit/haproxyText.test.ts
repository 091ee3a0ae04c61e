import test from 'ava';
import { checkRawLine } from '../../src/domain/haproxyText.js';

// Raw HAProxy text by design (headers, backendExtra): one line, nothing that runs code or reads files.
const refusedDirectives: Array<[string, RegExp]> = [
  ['lua-load /tmp/evil.lua', /Lua/],
  ['http-request lua.hello', /Lua/],
  ['http-request use-service lua.svc', /Lua/],
  ['external-check command /bin/sh', /external-check/],
  ['setenv X 1', /environment/],
  ['presetenv X 1', /environment/],
  ['unsetenv X', /environment/],
  ['http-request set-header X %[env(STATS_PASS)]', /env\(\)/],
  ['acl bad path_beg -f /etc/passwd', /-f/],
  ['http-request set-var(txn.x) str(a),map(/etc/passwd)', /map files/],
  ['http-request return status 200 file /etc/shadow', /"file"/],
  ['http-request return status 200 lf-file /etc/shadow', /"lf-file"/],
  ['errorfile 503 /etc/shadow', /"errorfile"/],
  ['http-error status 500 file /etc/shadow', /"http-error"/],
  ['server s2 1.2.3.4:80 ssl ca-file /etc/ssl/x.pem', /"ca-file"/],
  ['backend other', /new configuration section/],
  ['program evil', /new configuration section/],
  ['.if defined(X)', /conditional block/],
  ['http-request deny # sneaky', /comment/],
  ['http-request set-header X "unterminated', /unterminated/],
  ['http-request set-header X "$HOME"', /environment expansion/],
  ['http-request set-header X a\\nb', /line break/],
  ['http-request deny\nbackend evil', /newline/],
  ['http-request deny\r', /newline/],
  ['http-request deny\u0000', /newline/],
];

for (const [line, reason] of refusedDirectives) {
  test(`a raw directive is refused: ${JSON.stringify(line)}`, (t) => {
    const r = checkRawLine(line, 'directive', false);
    t.false(r.ok);
    t.regex(r.reason ?? '', reason);
  });
}

const acceptedDirectives = [
  'http-response set-header X-Frame-Options DENY',
  'http-request set-header X-Client-Cert %[ssl_c_der,base64]',
  'option http-buffer-request',
  'timeout check 5s',
  "http-request set-header X-Quoted 'a # b'",
  'http-request deny if { src 10.0.0.0/8 }',
  'balance leastconn',
];

for (const line of acceptedDirectives) {
  test(`a harmless raw directive is accepted: ${line}`, (t) => {
    t.true(checkRawLine(line, 'directive', false).ok);
  });
}

test('ALLOW_RAW_SNIPPETS lets an operator use directives that read files, never line breaks', (t) => {
  t.true(checkRawLine('http-request return status 200 file /srv/maintenance.html', 'directive', true).ok);
  t.false(checkRawLine('http-request deny\nbackend evil', 'directive', true).ok);
  t.false(checkRawLine('backend other', 'directive', true).ok);
});

test('header specs may use words that are directives elsewhere, as values', (t) => {
  t.true(checkRawLine('X-Mode file', 'header', false).ok);
  t.true(checkRawLine('X-User user', 'header', false).ok);
  t.false(checkRawLine('X-A %[lua.f]', 'header', false).ok);
  t.false(checkRawLine('X-A 1 if { path -f /etc/x }', 'header', false).ok);
});
