import test from 'ava';
import { AclSyntaxError, evaluateCondition, parseCondition, type AclRequest } from '../../src/render/acl.js';

function req(over: Partial<AclRequest> & { hdr?: Record<string, string[]> } = {}): AclRequest {
  const { hdr, ...rest } = over;
  return { host: 'a.com', path: '/api/v2', url: '/api/v2?x=1', method: 'GET', port: 80, headers: new Map(Object.entries({ host: ['A.com:80'], ...hdr })), ...rest };
}

test('conditions split into terms: fetch, flags, quoted patterns (braces inside quotes kept), negation', (t) => {
  const terms = parseCondition("{ var(txn.fp_host) -m str 'a.com' 'b.com' } !{ path_beg '/x{2}' } { req.hdr(User-Agent) -m sub -i 'Bot' } { dst_port 80 }");
  t.deepEqual(terms.map((x) => [x.negated, x.fetch, x.flags, x.patterns]), [
    [false, 'var(txn.fp_host)', { ignoreCase: false, method: 'str' }, ['a.com', 'b.com']],
    [true, 'path_beg', { ignoreCase: false }, ['/x{2}']],
    [false, 'req.hdr(User-Agent)', { ignoreCase: true, method: 'sub' }, ['Bot']],
    [false, 'dst_port', { ignoreCase: false }, ['80']],
  ]);
  t.throws(() => parseCondition("{ path_beg '/x' "), { instanceOf: AclSyntaxError });
  t.throws(() => parseCondition("path_beg '/x'"), { instanceOf: AclSyntaxError });
});

const cases: Array<[string, AclRequest, boolean]> = [
  ["{ var(txn.fp_host) -m str 'a.com' }", req(), true],
  ["{ var(txn.fp_host) -m str 'b.com' }", req(), false],
  ["{ var(txn.fp_host) -m str 'a.com' }", req({ host: undefined }), false],
  ["{ var(txn.fp_host) -m end '.a.com' }", req({ host: 'x.a.com' }), true],
  ["{ var(txn.fp_host) -m end '.a.com' }", req(), false],
  ["{ path_beg '/api' }", req(), true],
  ["{ path_beg '/apix' }", req(), false],
  ["{ path '/api/v2' }", req(), true],
  ["{ path '/api' }", req(), false],
  ["{ path_end 'v2' }", req(), true],
  ["{ path_sub 'pi/v' }", req(), true],
  ["{ path_reg '^/api/v[0-9]$' }", req(), true],
  ["{ path_reg -i '^/API' }", req(), true],
  ["{ path_reg '^/API' }", req(), false],
  ["{ path_beg -i '/API' }", req(), true],
  ["{ path_dir 'api' }", req(), true],
  ["{ path_dir 'ap' }", req(), false],
  ["{ url_beg '/api/v2?x' }", req(), true],
  ["{ path_beg '/api/v2?x' }", req(), false],
  ["{ hdr_beg(host) -i 'a.com' }", req(), true],
  ["{ hdr(host) -i 'a.com' }", req(), false], // the Host header keeps its port
  ["{ hdr(host) -i 'a.com:80' }", req(), true],
  ["{ hdr_end(host) -i ':80' }", req(), true],
  ["{ hdr_dom(host) -i 'a' }", req({ headers: new Map([['host', ['x.a.com']]]) }), true],
  ["{ base_beg 'A.com:80/api' }", req(), true],
  ["{ req.hdr(X-V) -m str '2' }", req({ hdr: { 'x-v': ['1, 2'] } }), true], // commas delimit values
  ["{ req.hdr(X-V) -m str '2' }", req({ hdr: { 'x-v': ['1'] } }), false],
  ["{ req.hdr(X-V) -m str '2' }", req(), false],
  ["{ req.hdr(User-Agent) -m sub -i 'bot' }", req({ hdr: { 'user-agent': ['GoodBOT/1'] } }), true],
  ["{ dst_port 80 }", req(), true],
  ["{ dst_port 443 }", req(), false],
  ["{ dst_port 8000:9000 }", req({ port: 8080 }), true],
  ["!{ path_beg '/api/v2' }", req(), false],
  ["!{ path_beg '/other' }", req(), true],
  ["{ path_beg '/api' } { dst_port 443 }", req(), false],
  ["{ req_ssl_sni -i 'a.com' }", req({ sni: 'A.COM' }), true],
  ["{ req_ssl_sni -i 'a.com' }", req(), false],
];

for (const [i, [condition, request, expected]] of cases.entries()) {
  test(`${i + 1}. ${condition} ${expected ? 'matches' : 'does not match'} ${request.path}`, (t) => {
    const result = evaluateCondition(condition, request);
    t.is(result.matched, expected);
    if (!expected) t.true(result.results.some((r) => !r.matched && r.why !== ''), 'a failed term says why');
  });
}

test('reasons name the value and what it was compared with', (t) => {
  const r = evaluateCondition("{ var(txn.fp_host) -m str 'b.com' } { path_beg '/web' }", req());
  t.deepEqual(r.results.map((x) => x.why), ['host "a.com" is not "b.com"', 'path "/api/v2" does not begin with "/web"']);
  t.deepEqual(evaluateCondition("{ var(txn.fp_host) -m str 'b.com' }", req({ host: undefined })).results.map((x) => x.why), ['no host (needs "b.com")']);
});

test('unknown fetches are refused, not guessed', (t) => {
  t.throws(() => evaluateCondition("{ src 10.0.0.0/8 }", req()), { instanceOf: AclSyntaxError });
});
