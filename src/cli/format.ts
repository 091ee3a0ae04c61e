/**
 * Human output of the CLI, from the JSON the API answers. Pure: the CLI
 * prints what these return.
 */

/** JSON the API answers; its shape is the API contract (README), not checked again here. */
type Json = Record<string, any>;

/** Columns padded to their widest cell; the last column is not padded. */
export function columns(rows: string[][], indent = '  '): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => indent + r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] as number))).join('  ').trimEnd()).join('\n');
}

export function formatStatus(api: string, state: Json, discovery: Json): string {
  const services = state.Services as Json[];
  const servers = services.flatMap((s) => s.Servers as Json[]);
  const up = servers.filter((s) => /^(UP|no check|OPEN|DRAIN|NOLB)/.test(String(s.Status))).length;
  const quarantined = state.Quarantined as Json[];
  const refused = state.Refused as Json[];
  const last = (state.Applies as Json[])[0];
  const peers = state.Replicas.Peers as Json[];
  const lines = [
    `flow-proxy at ${api}: ${state.Proxy.Ready ? 'ready' : 'starting (stored and discovered routes not live yet)'}`,
    columns([
      ['services', `${services.length} (${services.length - quarantined.filter((q) => services.some((s) => s.Name === q.ServiceName)).length} live, ${quarantined.length} quarantined)`],
      ['routes', `${state.Proxy.Routes} (ROUTE_ORDER=${state.Proxy.RouteOrder}) on ${(state.Proxy.HttpBinds as string[]).join(', ') || 'no HTTP bind'}`],
      ['servers', `${up} of ${servers.length} up${state.Proxy.StatsError ? ` (HAProxy stats unavailable: ${state.Proxy.StatsError})` : ''}`],
      ['discovery', discovery.Discovery === 'docker' ? `docker ${discovery.Connected ? 'connected' : 'DISCONNECTED'} (${discovery.DockerHost}), ${discovery.Services.length} services, ${discovery.Skipped.length} skipped` : 'off (API only)'],
      ['replicas', peers.length === 0 ? 'no peers' : peers.map((p) => `${p.Peer} ${p.State}`).join(', ')],
      ['last apply', last ? `#${last.Id} ${last.Kind} in ${last.DurationMs} ms: ${last.Reason}` : 'none'],
    ]),
  ];
  if (quarantined.length > 0) lines.push('', 'Quarantined', ...quarantined.map((q) => `  ${q.ServiceName} (${q.Owner}): ${q.Reason}`));
  if (refused.length > 0) lines.push('', 'Refused calls', ...refused.slice(0, 10).map((r) => `  ${r.At} ${r.Endpoint} ${r.Status} ${r.ServiceName || '-'}: ${r.Reason}`));
  const skipped = (discovery.Skipped ?? []) as Json[];
  if (skipped.length > 0) lines.push('', 'Skipped by discovery', ...skipped.map((s) => `  ${s.Name} (${s.Kind}): ${s.Reason}`));
  if (services.length > 0) {
    lines.push('', 'Services', columns([
      ['NAME', 'OWNER', 'STATE', 'HEALTH', 'ROUTES', 'SERVERS'],
      ...services.map((s) => [String(s.Name), String(s.Owner), String(s.State), String(s.Health), String((s.Routes as Json[]).length), (s.Servers as Json[]).map((x) => `${x.Address} ${x.Status}`).join(', ') || '-']),
    ]));
  }
  return lines.join('\n');
}

export function formatRoutes(state: Json): string {
  const routes = (state.Services as Json[]).flatMap((s) => (s.Routes as Json[]).map((r): Json => ({ ...r, Service: s.Name })));
  routes.sort((a, b) => a.Order - b.Order);
  const tcp = (state.Services as Json[]).flatMap((s) => (s.Destinations as Json[]).filter((d) => d.Mode !== 'http').map((d): Json => ({ ...d, Service: s.Name })));
  const out: string[] = [];
  if (routes.length === 0) out.push('No HTTP route.');
  else {
    out.push(`HTTP routes in the order HAProxy evaluates them (ROUTE_ORDER=${state.Proxy.RouteOrder}); the first that matches wins:`);
    out.push(columns([['#', 'SERVICE', 'ROUTE', 'BACKEND'], ...routes.map((r) => [String(r.Order), String(r.Service), String(r.Route), String(r.Backend)])]));
  }
  if (tcp.length > 0) {
    out.push('', 'TCP and SNI services:');
    out.push(columns([['SERVICE', 'MODE', 'FROM PORT', 'MATCH', 'TO PORT'], ...tcp.map((d) => [String(d.Service), String(d.Mode), String(d.SrcPort ?? '-'), [...(d.Domains as string[]), ...(d.Mode === 'sni' ? (d.Paths as string[]) : [])].join(' ') || '(any)', String(d.Port ?? '-')])]));
  }
  const quarantined = (state.Services as Json[]).filter((s) => s.State === 'quarantined');
  if (quarantined.length > 0) out.push('', `Not routed (quarantined): ${quarantined.map((s) => s.Name).join(', ')}`);
  return out.join('\n');
}

export function formatExplain(method: string, url: string, e: Json): string {
  const target = e.Service === null ? 'no service' : `service ${e.Service}`;
  const lines = [
    `${method} ${url} -> ${target}${e.Backend ? ` (backend ${e.Backend})` : ''}`,
    `  matched as: host ${e.Request.Host === null ? '(none)' : e.Request.Host}, path ${e.Request.Path}, port ${e.Request.Port}`,
    `  why: ${e.Reason}`,
    ...(e.Notes as string[]).map((n) => `  note: ${n}`),
  ];
  const candidates = e.Candidates as Json[];
  if (candidates.length > 0) {
    lines.push('', 'Other routes:');
    for (const c of candidates) lines.push(`  ${c.Matched ? 'matched ' : 'no match'}  ${c.Service}  ${c.Route}`, `            ${c.Why}`);
  }
  return lines.join('\n');
}

export function formatDiff(endpoint: string, body: Json, color: boolean): string {
  const head = `Dry run of ${endpoint} ${body.ServiceName}: ${body.Kind}${body.Reason ? ` (${body.Reason})` : ''}${body.Checked ? ', checked with haproxy -c' : ''}. Nothing was changed.`;
  const diff = String(body.Diff ?? '');
  if (diff === '') return `${head}\nNo change to haproxy.cfg or the maps.`;
  if (!color) return `${head}\n${diff.trimEnd()}`;
  const paint = (line: string) =>
    line.startsWith('+++') || line.startsWith('---') ? `\x1b[1m${line}\x1b[0m`
      : line.startsWith('+') ? `\x1b[32m${line}\x1b[0m`
        : line.startsWith('-') ? `\x1b[31m${line}\x1b[0m`
          : line.startsWith('@@') ? `\x1b[36m${line}\x1b[0m`
            : line;
  return `${head}\n${diff.trimEnd().split('\n').map(paint).join('\n')}`;
}
