import type { Entry } from '../domain/registry.js';
import type { Destination, ServiceSpec } from '../domain/spec.js';

/**
 * A service as docker-flow-proxy's `/config?type=json` showed it (PascalCase
 * fields, ServiceDest list), without secrets: users are listed by name only.
 */
export function serviceJson(entry: Entry, status: { state: 'live' | 'quarantined'; reason?: string }): Record<string, unknown> {
  const s = entry.spec;
  return {
    ServiceName: s.serviceName,
    AclName: s.aclName,
    Owner: entry.owner,
    State: status.state,
    ...(status.reason !== undefined && { Reason: status.reason }),
    ServiceDomainAlgo: s.serviceDomainAlgo ?? '',
    ConnectionMode: s.connectionMode ?? '',
    SessionType: s.sessionType ?? '',
    DiscoveryType: s.discoveryType ?? '',
    CheckResolvers: s.checkResolvers,
    IsDefaultBackend: s.isDefaultBackend,
    RedirectWhenHttpProto: s.redirectWhenHttpProto,
    RedirectUnlessHttpsProto: s.redirectUnlessHttpsProto,
    CompressionAlgo: s.compressionAlgo ?? '',
    CompressionType: s.compressionType ?? '',
    BackendExtra: s.backendExtra ?? '',
    TemplateFePath: s.templateFePath ?? '',
    TemplateBePath: s.templateBePath ?? '',
    Users: s.users.map((u) => ({ Username: u.name, PassEncrypted: u.encrypted })),
    UsersSecret: s.params.usersSecret ?? '',
    Replicas: s.replicas ?? null,
    Servers: (s.servers ?? []).map((x) => ({ Host: x.host, Port: x.port ?? null, Id: x.id ?? null })),
    ServiceDest: s.destinations.map(destJson),
  };
}

function destJson(d: Destination): Record<string, unknown> {
  return {
    Index: d.index,
    ReqMode: d.reqMode,
    Port: d.port === undefined ? '' : String(d.port),
    ServicePath: d.servicePath,
    PathType: d.pathType,
    ServicePathExclude: d.servicePathExclude,
    ServiceDomain: d.serviceDomain,
    SrcPort: d.srcPort ?? 0,
    HttpsPort: d.httpsPort ?? 0,
    SrcHttpsPort: d.srcHttpsPort ?? 0,
    HttpsOnly: d.httpsOnly,
    HttpsRedirectCode: d.httpsRedirectCode ? String(d.httpsRedirectCode) : '',
    RedirectFromDomain: d.redirectFromDomain,
    ServiceHeader: Object.fromEntries(d.serviceHeader.map((h) => [h.name, h.value])),
    UserAgent: { Value: d.userAgent },
    AllowedMethods: d.allowedMethods,
    DeniedMethods: d.deniedMethods,
    DenyHttp: d.denyHttp,
    VerifyClientSsl: d.verifyClientSsl,
    IgnoreAuthorization: d.ignoreAuthorization,
    SslVerifyNone: d.sslVerifyNone,
    CheckTcp: d.checkTcp,
    Clitcpka: d.clitcpka,
    TimeoutServer: d.timeoutServer === undefined ? '' : String(d.timeoutServer),
    TimeoutTunnel: d.timeoutTunnel === undefined ? '' : String(d.timeoutTunnel),
    TimeoutClient: d.timeoutClient === undefined ? '' : String(d.timeoutClient),
    ReqPathSearchReplace: d.reqPathSearchReplace.map((r) => `${r.search},${r.replace}`).join(':'),
    OutboundHostname: d.outboundHostname ?? '',
    ServiceGroup: d.serviceGroup ?? '',
    BalanceGroup: d.balanceGroup ?? '',
    UserDef: d.userDef ?? '',
    AddReqHeader: d.headers.addReq,
    SetReqHeader: d.headers.setReq,
    DelReqHeader: d.headers.delReq,
    AddResHeader: d.headers.addRes,
    SetResHeader: d.headers.setRes,
    DelResHeader: d.headers.delRes,
  };
}

/** Hides passwords and keys in rendered HAProxy text shown to API clients. */
export function redactConfig(text: string): string {
  return text
    .replace(/^(\s*user\s+\S+\s+(?:insecure-password|password)\s+).*$/gm, '$1<redacted>')
    .replace(/^(\s*stats auth\s+[^:\s]+:).*$/gm, '$1<redacted>');
}

export type { ServiceSpec };
