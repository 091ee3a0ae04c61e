// flow-proxy dashboard: plain DOM, no dependencies. It reads the proxy's own
// read-only endpoints (relative URLs, same origin) every POLL_MS and changes
// nothing. Every value is inserted as text, never as HTML.

const POLL_MS = 1000;
const API = 'v1/docker-flow-proxy/';
const $ = (id) => document.getElementById(id);
const rendered = new Map();
let lastOk = 0;

/** Builds an element; children are nodes or text. */
function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false || c === '') continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const pill = (text, kind) => h('span', { class: `pill ${kind || text}` }, text);
const empty = (text) => h('div', { class: 'empty' }, text);
const time = (iso) => (iso ? new Date(iso).toLocaleTimeString([], { hour12: false }) : '');

function table(headers, rows, opts = {}) {
  return h('table', { class: opts.filterable === false ? '' : 'filterable' },
    h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col' }, x)))),
    h('tbody', {}, rows));
}

/** Replaces a section's content only when its data changed, so focus and selection survive polling. */
function paint(id, data, build) {
  const key = JSON.stringify(data);
  if (rendered.get(id) === key) return;
  rendered.set(id, key);
  $(id).replaceChildren(build(data));
  applyFilter();
}

async function getJson(path) {
  const res = await fetch(API + path, { cache: 'no-store', headers: { Accept: 'application/json' } });
  let body = {};
  try {
    body = await res.json();
  } catch {
    body = {};
  }
  return { status: res.status, ok: res.ok, body };
}

// ---------------------------------------------------------------- sections

function overview({ state, discovery, certs }) {
  const services = state.Services;
  const servers = services.flatMap((s) => s.Servers);
  const up = servers.filter((s) => serverClass(s.Status) === 'up').length;
  const last = state.Applies[0];
  const soonest = certs.map((c) => daysLeft(c.NotAfter)).sort((a, b) => a - b)[0];
  const peers = state.Replicas.Peers;
  const card = (label, value, sub, kind) => h('div', { class: `card ${kind || ''}` }, h('div', { class: 'label' }, label), h('div', { class: 'value' }, value), h('div', { class: 'sub' }, sub));
  return h('div', { class: 'cards' },
    card('Services', String(services.length), `${services.filter((s) => s.State === 'live').length} live · ${state.Proxy.Routes} routes`),
    card('Servers up', `${up} / ${servers.length}`, servers.length === up ? 'all healthy' : `${servers.length - up} not up`, servers.length > up ? 'warn' : ''),
    card('Quarantined', String(state.Quarantined.length), state.Quarantined.length ? 'see Needs attention' : 'none', state.Quarantined.length ? 'bad' : ''),
    card('Last apply', last ? last.Kind : '–', last ? `${last.DurationMs} ms · #${last.Id} at ${time(last.At)}` : 'none yet'),
    card('Discovery', discovery.Discovery === 'docker' ? (discovery.Connected ? 'connected' : 'disconnected') : 'off', discovery.Discovery === 'docker' ? `${discovery.Services.length} services · ${discovery.Skipped.length} skipped` : 'API only', discovery.Discovery === 'docker' && !discovery.Connected ? 'bad' : ''),
    card('Certificates', String(certs.length), soonest === undefined ? 'none' : `first expires in ${soonest} days`, soonest !== undefined && soonest < 14 ? 'warn' : ''),
    card('Replicas', String(peers.length + 1), peers.length ? `${peers.filter((p) => p.State === 'in-sync').length} of ${peers.length} peers in sync` : 'no peers configured'),
  );
}

function attention({ state, discovery }) {
  const groups = [];
  if (state.Quarantined.length) {
    groups.push(h('div', { class: 'group' }, h('h3', {}, `Quarantined services (${state.Quarantined.length})`),
      table(['Service', 'Owner', 'Reason'], state.Quarantined.map((q) => h('tr', {}, h('td', { class: 'name' }, q.ServiceName), h('td', {}, pill(OWNER[q.Owner] || q.Owner, 'owner')), h('td', { class: 'reason' }, q.Reason))))));
  }
  if (state.Refused.length) {
    groups.push(h('div', { class: 'group' }, h('h3', {}, `Refused API calls (${state.Refused.length})`),
      table(['When', 'Service', 'Call', 'Reason'], state.Refused.map((r) => h('tr', {}, h('td', { class: 'mono', title: r.At }, time(r.At)), h('td', { class: 'name' }, r.ServiceName || '–'), h('td', {}, pill(`${r.Endpoint} ${r.Status}`, 'refused')), h('td', { class: 'reason' }, r.Reason))))));
  }
  const skipped = discovery.Skipped || [];
  if (skipped.length) {
    groups.push(h('div', { class: 'group' }, h('h3', {}, `Skipped by discovery (${skipped.length})`),
      table(['Container or service', 'Kind', 'Reason'], skipped.map((s) => h('tr', {}, h('td', { class: 'name' }, s.Name), h('td', {}, s.Kind), h('td', { class: 'reason' }, s.Reason))))));
  }
  const count = state.Quarantined.length + state.Refused.length + skipped.length;
  $('attention-count').textContent = count ? String(count) : '';
  return groups.length ? h('div', {}, groups) : h('div', { class: 'allgood' }, '✓ Nothing needs attention: no quarantined service, no refused call, nothing skipped by discovery.');
}

function serverClass(status) {
  if (/^(UP|no check|OPEN|DRAIN|NOLB)/.test(status)) return 'up';
  if (/^MAINT/.test(status)) return 'maint';
  if (/^DOWN/.test(status)) return 'down';
  return 'unknown';
}

function ports(d) {
  const parts = [];
  if (d.Port !== null) parts.push(`:${d.Port}`);
  if (d.HttpsPort !== null) parts.push(`https :${d.HttpsPort}`);
  if (d.SrcPort !== null) parts.push(`from :${d.SrcPort}`);
  if (d.Mode !== 'http') parts.push(d.Mode);
  return parts.join(' · ');
}

const OWNER = { api: 'API', env: 'env', docker: 'Docker' };

/** What a service asks for: domains and paths of each destination. */
function wanted(s) {
  return s.Destinations.map((d) => [d.Mode !== 'http' ? d.Mode : '', d.Domains.join(' '), d.Paths.join(' ')].filter(Boolean).join(' ')).join('; ');
}

function services({ state }) {
  if (!state.Services.length) return empty('No services yet. Add one with /v1/docker-flow-proxy/reconfigure or Docker labels.');
  const rows = state.Services.map((s) => h('tr', { class: s.State === 'quarantined' ? 'dim' : '' },
    h('td', {},
      h('div', { class: 'name' }, s.Name),
      h('div', { class: 'meta' }, pill(OWNER[s.Owner] || s.Owner, 'owner'),
        [s.AclName !== s.Name ? `aclName ${s.AclName}` : '', s.IsDefaultBackend ? 'default backend' : '', s.Auth ? 'basic auth' : ''].filter(Boolean).map((x) => [' ', h('span', { class: 'tag' }, x)]))),
    h('td', {}, s.Routes.length
      ? h('ul', { class: 'routes' }, s.Routes.map((r) => h('li', {}, h('span', { class: 'order' }, `#${r.Order}`), ' ', r.Route, h('span', { class: 'arrow' }, ' → '), r.Backend)))
      : h('span', { class: 'meta' }, s.State === 'quarantined' ? `not routed (would be: ${wanted(s)})` : s.Destinations.some((d) => d.Mode !== 'http') ? wanted(s) : 'no HTTP route')),
    h('td', { class: 'mono' }, s.Destinations.map((d) => h('div', {}, ports(d)))),
    h('td', {}, s.Servers.length
      ? s.Servers.map((x) => h('span', { class: `server ${serverClass(x.Status)}`, title: `${x.Backend}/${x.Name} ${x.Check}` }, h('span', { class: 'led', 'aria-hidden': 'true' }), `${x.Address} ${x.Status}`))
      : h('span', { class: 'meta' }, s.State === 'quarantined' ? 'not rendered' : 'no server')),
    h('td', {}, pill(s.State), ' ', s.State === 'live' ? pill(s.Health) : '', s.Reason ? h('div', { class: 'reason' }, s.Reason) : ''),
  ));
  return table(['Service', 'Routes (evaluation order)', 'Ports', 'Servers (health from HAProxy)', 'State'], rows);
}

function applies({ state }) {
  if (!state.Applies.length) return empty('No apply yet.');
  return table(['#', 'Kind', 'Duration', 'Reason', 'Change ids', 'When'], state.Applies.map((a) => h('tr', {},
    h('td', { class: 'mono' }, `#${a.Id}`),
    h('td', {}, pill(a.Kind), a.Ok ? '' : [' ', pill('failed')]),
    h('td', { class: 'mono' }, `${a.DurationMs} ms`),
    h('td', {}, a.Reason),
    h('td', { class: 'mono' }, a.ChangeIds.join(', ') || '–'),
    h('td', { class: 'mono', title: a.At }, time(a.At)),
  )));
}

function discoverySection({ discovery }) {
  if (discovery.Discovery !== 'docker') return empty('Discovery is off (DISCOVERY=none): services come from the API and the environment only.');
  const head = h('p', { class: 'meta' }, pill(discovery.Connected ? 'connected' : 'disconnected', discovery.Connected ? 'ok' : 'bad'), ` ${discovery.DockerHost} · label ${discovery.NotifyLabel} · ${discovery.Events} events · ${discovery.Syncs} syncs`,
    discovery.LastSync ? ` · last sync ${time(discovery.LastSync.At)} (${discovery.LastSync.Applied})` : '', discovery.LastError ? ` · last error: ${discovery.LastError}` : '');
  const list = discovery.Services.length
    ? table(['Service', 'Kind', 'From', 'Servers', 'State'], discovery.Services.map((s) => h('tr', {},
      h('td', { class: 'name' }, s.ServiceName), h('td', {}, s.Kind), h('td', { class: 'mono' }, Array.isArray(s.From) ? s.From.join(', ') : String(s.From ?? '')),
      h('td', { class: 'mono' }, s.Servers.map((x) => `${x.Host}${x.Port ? `:${x.Port}` : ''}`).join(', ') || '–'),
      h('td', {}, pill(s.State), s.Reason ? h('div', { class: 'reason' }, s.Reason) : ''))))
    : empty('No labelled container or service.');
  const skipped = discovery.Skipped.length
    ? h('div', { class: 'group' }, h('h3', {}, 'Skipped'), table(['Name', 'Kind', 'Reason'], discovery.Skipped.map((s) => h('tr', {}, h('td', { class: 'name' }, s.Name), h('td', {}, s.Kind), h('td', { class: 'reason' }, s.Reason)))))
    : '';
  return h('div', {}, head, list, skipped);
}

function daysLeft(iso) {
  return Math.floor((new Date(iso).getTime() - Date.now()) / 86_400_000);
}

function certificates({ certs }) {
  if (!certs.length) return empty('No certificate: TLS binds stay plain until one is added (PUT /v1/docker-flow-proxy/cert).');
  return table(['Certificate', 'Names', 'Expires', 'Fingerprint (SHA-256)'], certs.map((c) => {
    const days = daysLeft(c.NotAfter);
    return h('tr', {},
      h('td', {}, h('div', { class: 'name' }, c.ProxyServiceName), h('div', { class: 'meta' }, c.Subject)),
      h('td', { class: 'mono' }, c.Names.join(', ') || '–'),
      h('td', {}, new Date(c.NotAfter).toISOString().slice(0, 10), ' ', pill(days < 0 ? 'expired' : `${days} days`, days < 7 ? 'bad' : days < 30 ? 'reload' : 'ok')),
      h('td', { class: 'mono' }, `${c.Fingerprint256.slice(0, 23)}…`));
  }));
}

function replicas({ state }) {
  const self = state.Replicas.Self;
  const head = h('p', { class: 'meta' }, `This replica: instance ${self.Instance.slice(0, 8)} · state digest ${self.Digest.slice(0, 12)}`);
  if (!state.Replicas.Peers.length) return h('div', {}, head, empty('No peers configured (PEERS, PEER_DISCOVERY).'));
  return h('div', {}, head, table(['Peer', 'State', 'Detail'], state.Replicas.Peers.map((p) => h('tr', {},
    h('td', { class: 'mono' }, p.Peer), h('td', {}, pill(p.State)), h('td', { class: 'meta' }, p.Error || `${p.DurationMs} ms`)))));
}

// ---------------------------------------------------------------- explain

async function explainRequest(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  const q = new URLSearchParams();
  for (const name of ['path', 'host', 'method', 'port']) {
    const v = String(form.get(name) || '').trim();
    if (v) q.set(name, v);
  }
  for (const header of String(form.get('headers') || '').split(/[;\n]/).map((x) => x.trim()).filter(Boolean)) q.append('header', header);
  const out = $('explain-result');
  try {
    const { body, ok } = await getJson(`explain?${q}`);
    if (!ok) {
      out.replaceChildren(h('div', { class: 'banner' }, body.Message || 'The proxy refused the request.'));
      return;
    }
    const target = body.Service === null ? 'no service' : `service ${body.Service}`;
    out.replaceChildren(
      h('div', { class: `verdict ${body.Service === null ? 'none' : ''}` },
        h('div', { class: 'big' }, `→ ${target}`, body.Backend ? h('span', { class: 'meta' }, `  backend ${body.Backend}`) : ''),
        h('div', {}, body.Reason),
        body.Notes.length ? h('ul', {}, body.Notes.map((n) => h('li', {}, n))) : ''),
      body.Candidates.length
        ? table(['Other route', 'Service', 'Matched', 'Why'], body.Candidates.map((c) => h('tr', {},
          h('td', { class: 'mono' }, c.Route), h('td', { class: 'name' }, c.Service), h('td', {}, pill(c.Matched ? 'matched' : 'no match', c.Matched ? 'reload' : 'none')), h('td', {}, c.Why))), { filterable: false })
        : empty('No other route comes close.'),
    );
  } catch (e) {
    out.replaceChildren(h('div', { class: 'banner' }, `Could not ask the proxy: ${e.message}`));
  }
}

// ---------------------------------------------------------------- filter and keys

function applyFilter() {
  const q = $('filter').value.trim().toLowerCase();
  for (const row of document.querySelectorAll('table.filterable tbody tr')) {
    row.classList.toggle('hidden-by-filter', q !== '' && !row.textContent.toLowerCase().includes(q));
  }
}

document.addEventListener('keydown', (e) => {
  const typing = e.target instanceof HTMLInputElement || e.target instanceof HTMLTextAreaElement;
  if (e.key === '/' && !typing) {
    e.preventDefault();
    $('filter').focus();
  } else if (e.key === 'Escape' && e.target === $('filter')) {
    $('filter').value = '';
    applyFilter();
    $('filter').blur();
  }
});

// ---------------------------------------------------------------- polling

async function refresh() {
  try {
    const [state, discovery, certs] = await Promise.all([getJson('dashboard/state'), getJson('discovery'), getJson('certs')]);
    for (const [name, r] of [['state', state], ['discovery', discovery], ['certs', certs]]) {
      if (!r.ok) throw new Error(`${name}: HTTP ${r.status}${r.body.Message ? ` (${r.body.Message})` : ''}`);
    }
    const data = { state: state.body, discovery: discovery.body, certs: certs.body.Certs || [] };
    lastOk = Date.now();
    $('error').hidden = true;
    const st = $('status');
    st.className = 'status';
    st.replaceChildren(h('span', { class: 'dot', 'aria-hidden': 'true' }), data.state.Proxy.Ready ? 'ready' : 'starting', ` · updated ${time(data.state.GeneratedAt)}`);
    paint('overview', data, overview);
    paint('attention-body', { state: { Quarantined: data.state.Quarantined, Refused: data.state.Refused }, discovery: { Skipped: data.discovery.Skipped } }, attention);
    paint('services-body', { state: { Services: data.state.Services } }, services);
    paint('applies-body', { state: { Applies: data.state.Applies } }, applies);
    paint('discovery-body', { discovery: data.discovery }, discoverySection);
    paint('certificates-body', { certs: data.certs }, certificates);
    paint('replicas-body', { state: { Replicas: data.state.Replicas } }, replicas);
  } catch (e) {
    const st = $('status');
    st.className = 'status stale';
    st.replaceChildren(h('span', { class: 'dot', 'aria-hidden': 'true' }), lastOk ? `stale since ${new Date(lastOk).toLocaleTimeString([], { hour12: false })}` : 'no answer');
    const banner = $('error');
    banner.textContent = `The proxy's API does not answer: ${e.message}. Retrying every ${POLL_MS / 1000} s.`;
    banner.hidden = false;
  } finally {
    setTimeout(refresh, POLL_MS);
  }
}

$('filter').addEventListener('input', applyFilter);
$('explain-form').addEventListener('submit', explainRequest);
void refresh();
