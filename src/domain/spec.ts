/** The one internal description of a service, whatever source it came from. */

import type { AcmeRequest } from './acmeParams.js';

export type ReqMode = 'http' | 'tcp' | 'sni';

/** Raw HAProxy header specs, in docker-flow-proxy's order of rendering. */
export interface HeaderRules {
  addReq: string[];
  setReq: string[];
  delReq: string[];
  addRes: string[];
  setRes: string[];
  delRes: string[];
}

export interface PathRewrite {
  search: string;
  replace: string;
}

export interface HeaderMatch {
  name: string;
  value: string;
}

/** One routing destination of a service (docker-flow-proxy's ServiceDest). */
export interface Destination {
  /** 0 for the unindexed destination, N for parameters suffixed `.N`. */
  index: number;
  reqMode: ReqMode;
  port?: number;
  servicePath: string[];
  /** HAProxy fetch and flags used to match servicePath. */
  pathType: string;
  servicePathExclude: string[];
  /** Lower-cased host names; a leading `*.` or `*` marks a wildcard. */
  serviceDomain: string[];
  srcPort?: number;
  httpsPort?: number;
  srcHttpsPort?: number;
  httpsOnly: boolean;
  httpsRedirectCode?: number;
  redirectFromDomain: string[];
  serviceHeader: HeaderMatch[];
  userAgent: string[];
  allowedMethods: string[];
  deniedMethods: string[];
  denyHttp: boolean;
  verifyClientSsl: boolean;
  ignoreAuthorization: boolean;
  sslVerifyNone: boolean;
  checkTcp: boolean;
  clitcpka: boolean;
  timeoutServer?: number;
  timeoutTunnel?: number;
  timeoutClient?: number;
  reqPathSearchReplace: PathRewrite[];
  outboundHostname?: string;
  serviceGroup?: string;
  balanceGroup?: string;
  userDef?: string;
  /** Retries of a failed request for this destination's backend (RETRIES otherwise). */
  retries?: number;
  /** What is retried (HAProxy retry-on keywords), or ['none']. */
  retryOn?: string[];
  /** Methods L7 retries apply to (RETRY_METHODS otherwise); ['none'] turns them off. */
  retryMethods?: string[];
  /** Active checks of the servers (HEALTH_CHECKS otherwise). */
  healthCheck?: boolean;
  /** An HTTP check: GET this path, 2xx or 3xx is healthy. */
  checkHttpPath?: string;
  /** Seconds a server that comes up ramps up its share of traffic. */
  slowStart?: number;
  headers: HeaderRules;
}

export interface User {
  name: string;
  password: string;
  /** The password is a crypt(3) hash. */
  encrypted: boolean;
}

/** A concrete server address, set by discovery instead of `host:port`. */
export interface ServerAddr {
  /** IPv4/IPv6 address or host name. */
  host: string;
  /** Overrides the destination port when set (published ports). */
  port?: number;
  /** Stable identity of the instance (container id), used to keep slots steady. */
  id?: string;
}

export interface ServiceSpec {
  serviceName: string;
  /** Name prefix and sort key; serviceName unless given. */
  aclName: string;
  aclNameExplicit: boolean;
  /** Explicit domain match fetch; unset means exact host matching through maps. */
  serviceDomainAlgo?: string;
  destinations: Destination[];
  users: User[];
  /** Users were asked for but none resolved: everyone gets 401. */
  usersDenyAll: boolean;
  connectionMode?: string;
  sessionType?: 'sticky-server';
  discoveryType?: 'DNS';
  checkResolvers: boolean;
  isDefaultBackend: boolean;
  redirectWhenHttpProto: boolean;
  redirectUnlessHttpsProto: boolean;
  compressionAlgo?: string;
  compressionType?: string;
  backendExtra?: string;
  templateFePath?: string;
  templateBePath?: string;
  /** Replica count sent by the listener; absent means global. */
  replicas?: number;
  proxyInstanceName?: string;
  /** Certificates asked of ACME (letsencrypt.host, acme=true). */
  acme?: AcmeRequest;
  /** Servers found by discovery; when set they replace `host:port`. */
  servers?: ServerAddr[];
  /** Canonical parameters this spec was parsed from; stored and re-parsed on restore. */
  params: Readonly<Record<string, string>>;
}

/** Options that belong to one request, not to the service. */
export interface RequestOptions {
  distribute: boolean;
  serviceCert?: string;
}
