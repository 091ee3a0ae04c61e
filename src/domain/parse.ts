// Long on purpose: every parameter of docker-flow-proxy is validated by this one parser, for every source (API, labels, listener, environment, store).
import { parseAcmeParams } from './acmeParams.js';
import { issue, warning, type Issue, type Warning } from './errors.js';
import { checkRawLine, hasControl } from './haproxyText.js';
import { canonicalName, SECRET_PARAMS, toRecord, type RawParams } from './params.js';
import type { Destination, HeaderMatch, HeaderRules, PathRewrite, ReqMode, RequestOptions, ServiceSpec, User } from './spec.js';
import {
  checkConverterArg, checkDomain, checkHost, checkMethod, checkName, checkPath, checkPlainText, checkQuotable, checkToken,
  checkWord, COMPRESSION_ALGO, CONNECTION_MODES, DOMAIN_ALGO, parseBool, parseNonNegative, parsePort, RETRY_ON, splitList, splitPlain,
} from './values.js';

/** Everything the parser needs besides the parameters; no I/O happens here. */
export interface ParseContext {
  /** List separator (SEPARATOR, default ","). */
  separator: string;
  /** HTTPS_ONLY: every destination redirects plain HTTP. */
  httpsOnly: boolean;
  /** SERVICE_DOMAIN_ALGO when the operator set one. */
  serviceDomainAlgo?: string;
  /** Global USERS, used to fill users given without a password. */
  globalUsers: readonly User[];
  /** Contents of `dfp_users_<name>` secrets, keyed by `<name>`. */
  userSecrets: ReadonlyMap<string, string>;
  /** ALLOW_RAW_SNIPPETS: raw text may use directives that read files or run code. */
  allowRawSnippets: boolean;
  /** Directories custom templates may be read from. */
  templateDirs: readonly string[];
  /** reqMode when none is given (DEFAULT_PROTOCOL applies to env services only). */
  defaultReqMode?: ReqMode;
}

export type ParseResult =
  | { ok: true; spec: ServiceSpec; options: RequestOptions; warnings: Warning[] }
  | { ok: false; issues: Issue[]; serviceName?: string };

const PATH_TYPE = /^(path|path_beg|path_dir|path_end|path_reg|path_sub|path_len|url|url_beg|url_dir|url_end|url_reg|url_sub|base|base_beg|base_dir|base_end|base_reg|base_sub|req_ssl_sni|req\.ssl_sni|ssl_fc_sni)( -i| -m (str|beg|end|sub|reg|dir|dom))*$/;
/** HAProxy 1.x connection modes: what they mean in HAProxy 2 (which refuses the keywords). */
const OLD_MODES: Readonly<Record<string, { mode: string | undefined; message: string }>> = {
  'http-tunnel': { mode: undefined, message: 'is an HAProxy 1.x mode that HAProxy 2 no longer has (it ignored it, then refused it); the default mode (CONNECTION_MODE) is used' },
  forceclose: { mode: 'httpclose', message: 'is an HAProxy 1.x mode that HAProxy 2 no longer has; httpclose, its HAProxy 2 equivalent, is used' },
};
/**
 * Parameters other tools put beside docker-flow-proxy's (docker-flow-monitor, docker-flow-letsencrypt,
 * docker-flow-swarm-listener, discovery's own labels): accepted without a word.
 */
const FOREIGN = /^(letsencrypt\.|scrape|alert|nodeinfo$|shortname$|notify$|network$|swarmrouting$|xforwardedproto$|servicenameprefix$)/;
const REDIRECT_CODES = new Set([301, 302, 303, 307, 308]);
const BALANCE = /^(roundrobin|static-rr|leastconn|first|source|random)$/;
const MIME = /^[A-Za-z0-9!#$&^_.+-]+\/[A-Za-z0-9!#$&^_.+*-]+( [A-Za-z0-9!#$&^_.+-]+\/[A-Za-z0-9!#$&^_.+*-]+)*$/;
const USER_NAME = /^[A-Za-z0-9._@-]{1,64}$/;
const MAX_DESTINATIONS = 100;
const MAX_VALUE = 8192;

/** Parses and validates one service; every problem is collected, none is thrown. */
export function parseService(raw: RawParams, ctx: ParseContext): ParseResult {
  const p = new Reader(raw, ctx);
  const serviceName = p.str('serviceName');
  if (!serviceName) {
    return { ok: false, issues: [issue('serviceName', undefined, 'serviceName parameter is mandatory.')] };
  }
  p.check('serviceName', serviceName, checkName);
  const aclNameRaw = p.str('aclName');
  if (aclNameRaw !== undefined) p.check('aclName', aclNameRaw, checkName);
  const aclName = aclNameRaw ?? serviceName;

  let serviceDomainAlgo = p.str('serviceDomainAlgo');
  if (serviceDomainAlgo !== undefined && !DOMAIN_ALGO.test(serviceDomainAlgo)) {
    p.fail('serviceDomainAlgo', serviceDomainAlgo, 'is not a supported host match (for example hdr(host), hdr_beg(host), hdr_end(host), hdr_dom(host), req.ssl_sni)');
  }
  if (p.bool('serviceDomainMatchAll')) serviceDomainAlgo = 'hdr_dom(host)';
  serviceDomainAlgo ??= ctx.serviceDomainAlgo;

  let connectionMode = p.str('connectionMode');
  const oldMode = connectionMode === undefined ? undefined : OLD_MODES[connectionMode];
  if (connectionMode !== undefined && oldMode !== undefined) {
    // HAProxy 1.x modes docker-flow-proxy passed through; HAProxy 2 refuses them, so they get their 2.x meaning.
    p.warn('connectionMode', connectionMode, oldMode.message);
    connectionMode = oldMode.mode;
  } else if (connectionMode !== undefined && !CONNECTION_MODES.has(connectionMode)) {
    p.fail('connectionMode', connectionMode, 'must be one of http-keep-alive, http-server-close, httpclose');
  }
  let sessionType = p.str('sessionType');
  if (sessionType !== undefined && sessionType !== 'sticky-server') {
    p.warn('sessionType', sessionType, 'is not a session type (sticky-server is the only one); ignored, as docker-flow-proxy did: requests are balanced without stickiness');
    sessionType = undefined;
  }
  const discoveryType = p.str('discoveryType');
  if (discoveryType !== undefined && discoveryType.toUpperCase() !== 'DNS') p.fail('discoveryType', discoveryType, 'must be DNS');
  const compressionAlgo = p.str('compressionAlgo');
  if (compressionAlgo !== undefined && !COMPRESSION_ALGO.test(compressionAlgo)) p.fail('compressionAlgo', compressionAlgo, 'must be a list of identity, gzip, deflate, raw-deflate');
  const compressionType = p.str('compressionType');
  if (compressionType !== undefined && !MIME.test(compressionType)) p.fail('compressionType', compressionType, 'must be a space separated list of MIME types');
  const backendExtra = p.str('backendExtra');
  if (backendExtra !== undefined) p.rawLine('backendExtra', backendExtra, 'directive');
  const templateFePath = p.templatePath('templateFePath');
  const templateBePath = p.templatePath('templateBePath');
  const replicasRaw = p.str('replicas');
  const replicas = replicasRaw === undefined ? undefined : p.num('replicas', replicasRaw, (v) => parseNonNegative(v, 100000));
  const proxyInstanceName = p.str('proxyInstanceName');
  if (proxyInstanceName !== undefined) p.check('proxyInstanceName', proxyInstanceName, checkName);

  const users = p.users();
  const destinations = p.destinations();
  const serviceCert = p.str('serviceCert');
  if (serviceCert !== undefined && !serviceCert.includes('-----BEGIN')) p.fail('serviceCert', undefined, 'serviceCert is not a PEM certificate.');
  const acme = parseAcmeParams(raw, destinations.flatMap((d) => d.serviceDomain), ctx.separator);
  p.issues.push(...acme.issues);

  if (p.issues.length > 0) return { ok: false, issues: dedupe(p.issues), serviceName };
  p.unknownParameters();

  const spec: ServiceSpec = {
    serviceName,
    aclName,
    aclNameExplicit: aclNameRaw !== undefined,
    ...(serviceDomainAlgo !== undefined && { serviceDomainAlgo }),
    destinations,
    users: users.users,
    usersDenyAll: users.denyAll,
    ...(connectionMode !== undefined && { connectionMode }),
    ...(sessionType !== undefined && { sessionType: 'sticky-server' as const }),
    ...(discoveryType !== undefined && { discoveryType: 'DNS' as const }),
    checkResolvers: p.bool('checkResolvers'),
    isDefaultBackend: p.bool('isDefaultBackend'),
    redirectWhenHttpProto: p.bool('redirectWhenHttpProto'),
    redirectUnlessHttpsProto: p.bool('redirectUnlessHttpsProto'),
    ...(compressionAlgo !== undefined && { compressionAlgo }),
    ...(compressionType !== undefined && { compressionType }),
    ...(backendExtra !== undefined && { backendExtra }),
    ...(templateFePath !== undefined && { templateFePath }),
    ...(templateBePath !== undefined && { templateBePath }),
    ...(replicas !== undefined && { replicas }),
    ...(proxyInstanceName !== undefined && { proxyInstanceName }),
    ...(acme.request && { acme: acme.request }),
    params: toRecord(raw, new Set(['servicecert', 'distribute'])),
  };
  const options: RequestOptions = { distribute: p.bool('distribute'), ...(serviceCert !== undefined && { serviceCert }) };
  return { ok: true, spec, options, warnings: p.warnings };
}

/** Reads typed values from RawParams, collecting issues as it goes. */
class Reader {
  readonly issues: Issue[] = [];
  readonly warnings: Warning[] = [];
  constructor(private readonly raw: RawParams, private readonly ctx: ParseContext) {}

  warn(param: string, value: string | undefined, problem: string): void {
    const shownValue = value === undefined || SECRET_PARAMS.has(param.replace(/\.\d+$/, '').toLowerCase()) ? undefined : value;
    const message = shownValue === undefined ? `${param} ${problem}.` : `${param} "${shortValue(shownValue)}" ${problem}.`;
    if (!this.warnings.some((w) => w.message === message)) this.warnings.push(warning(param, shownValue, message));
  }

  /** Parameters flow-proxy does not know: still accepted (listeners send every label), but named. */
  unknownParameters(): void {
    for (const key of this.raw.keys()) {
      const base = key.replace(/\.\d+$/, '');
      if (canonicalName(base) !== undefined || FOREIGN.test(base)) continue;
      this.warn(key, undefined, 'is not a parameter flow-proxy knows; ignored');
    }
  }

  fail(param: string, value: string | undefined, problem: string, kind: Issue['kind'] = 'invalid'): void {
    const shownValue = value === undefined || SECRET_PARAMS.has(param.replace(/\.\d+$/, '').toLowerCase()) ? undefined : value;
    const sentence = /^[A-Z]/.test(problem);
    const message = sentence ? `${problem}.` : shownValue === undefined ? `${param} ${problem}.` : `${param} "${shortValue(shownValue)}" ${problem}.`;
    this.issues.push(issue(param, shownValue, message.replace(/\.\.$/, '.'), kind));
  }

  check(param: string, value: string, check: (v: string) => string | undefined): void {
    const problem = check(value);
    if (problem) this.fail(param, value, problem);
  }

  /** The raw value; empty strings count as absent, like docker-flow-proxy's non-empty checks. */
  str(name: string, index = 0): string | undefined {
    const key = name.toLowerCase();
    const value = (index > 0 ? this.raw.get(`${key}.${index}`) : undefined) ?? this.raw.get(key);
    if (value === undefined || value === '') return undefined;
    const param = index > 0 && this.raw.has(`${key}.${index}`) ? `${name}.${index}` : name;
    if (value.length > MAX_VALUE) {
      this.fail(param, value, `is longer than ${MAX_VALUE} characters`);
      return undefined;
    }
    if (hasControl(value)) {
      this.fail(param, value, 'contains a newline or control character');
      return undefined;
    }
    return value;
  }

  /** The name to report for a parameter: `name.N` when the indexed form was given. */
  label(name: string, index: number): string {
    return index > 0 && this.raw.has(`${name.toLowerCase()}.${index}`) ? `${name}.${index}` : name;
  }

  /** Go's strconv.ParseBool; anything else reads as false, with a warning, as docker-flow-proxy read it. */
  bool(name: string, index = 0): boolean {
    const value = this.str(name, index);
    if (value === undefined) return false;
    const parsed = parseBool(value);
    if (typeof parsed === 'string') {
      this.warn(this.label(name, index), value, `${parsed}; read as false, as docker-flow-proxy did`);
      return false;
    }
    return parsed;
  }

  num(param: string, value: string, parse: (v: string) => number | string): number | undefined {
    const parsed = parse(value);
    if (typeof parsed === 'string') {
      this.fail(param, value, parsed);
      return undefined;
    }
    return parsed;
  }

  optNum(name: string, index: number, parse: (v: string) => number | string): number | undefined {
    const value = this.str(name, index);
    return value === undefined ? undefined : this.num(this.label(name, index), value, parse);
  }

  list(name: string, index: number, check: (v: string) => string | undefined, plain = true): string[] {
    const value = this.str(name, index);
    if (value === undefined) return [];
    const items = plain ? splitPlain(value, this.ctx.separator) : splitList(value, this.ctx.separator);
    const param = this.label(name, index);
    for (const item of items) this.check(param, item, check);
    return items;
  }

  rawLine(param: string, value: string, context: 'header' | 'directive'): void {
    const result = checkRawLine(value, context, this.ctx.allowRawSnippets);
    if (!result.ok) this.fail(param, value, result.reason ?? 'is not allowed');
  }

  templatePath(name: string): string | undefined {
    const value = this.str(name);
    if (value === undefined) return undefined;
    if (/^consul:\/\/[A-Za-z0-9_./-]+$/.test(value) && !value.includes('..')) return value;
    const normalised = value.replace(/\/+/g, '/');
    const inside = this.ctx.templateDirs.some((dir) => {
      const base = dir.endsWith('/') ? dir : `${dir}/`;
      return normalised.startsWith(base) && !normalised.split('/').includes('..');
    });
    if (!inside || !/^[A-Za-z0-9_./-]+$/.test(normalised)) {
      this.fail(name, value, `must be a file inside ${this.ctx.templateDirs.join(' or ') || 'the template directory'} (or a consul:// key)`);
      return undefined;
    }
    return normalised;
  }

  users(): { users: User[]; denyAll: boolean } {
    const listed = this.str('users');
    const secretName = this.str('usersSecret');
    const encrypted = this.bool('usersPassEncrypted');
    if (listed === undefined && secretName === undefined) return { users: [], denyAll: false };
    let secretUsers: User[] = [];
    if (secretName !== undefined) {
      if (!/^[A-Za-z0-9_.-]+$/.test(secretName)) {
        this.fail('usersSecret', secretName, 'must be a secret name (letters, digits, ".", "_", "-")');
      } else {
        const content = this.ctx.userSecrets.get(secretName);
        if (content === undefined) this.fail('usersSecret', secretName, `has no secret file dfp_users_${secretName}`);
        else secretUsers = this.userList('usersSecret', content, encrypted);
      }
    }
    if (listed === undefined) return { users: secretUsers, denyAll: secretUsers.length === 0 };
    const resolved: User[] = [];
    for (const user of this.userList('users', listed, encrypted)) {
      if (user.password !== '') {
        resolved.push(user);
        continue;
      }
      const source = secretName !== undefined ? secretUsers : this.ctx.globalUsers;
      const match = source.find((u) => u.name.toLowerCase() === user.name.toLowerCase());
      if (match) resolved.push({ name: user.name, password: match.password, encrypted: match.encrypted });
    }
    return { users: resolved, denyAll: resolved.length === 0 };
  }

  private userList(param: string, text: string, encrypted: boolean): User[] {
    const users: User[] = [];
    const entries = text.split(/[\n,]/).map((e) => e.trim()).filter((e) => e !== '');
    for (const entry of entries) {
      const colon = entry.indexOf(':');
      const name = colon < 0 ? entry : entry.slice(0, colon);
      const password = colon < 0 ? '' : entry.slice(colon + 1);
      if (!USER_NAME.test(name)) {
        this.fail(param, undefined, `holds a user name that is not allowed (letters, digits, ".", "_", "@", "-")`);
        continue;
      }
      if (checkQuotable(password) !== undefined && password !== '') {
        this.fail(param, undefined, `holds a password for user "${name}" with a single quote or control character`);
        continue;
      }
      users.push({ name, password, encrypted });
    }
    return users;
  }

  destinations(): Destination[] {
    const indexes: number[] = [];
    for (let i = 1; i <= MAX_DESTINATIONS; i++) {
      const present = ['servicePath', 'port', 'serviceDomain', 'httpsPort'].some((n) => {
        const v = this.raw.get(`${n.toLowerCase()}.${i}`);
        return v !== undefined && v !== '';
      });
      if (!present) break;
      indexes.push(i);
    }
    if (indexes.length === 0) indexes.push(0);
    const destinations = indexes.map((i) => this.destination(i));
    let structural = false;
    for (const d of destinations) {
      const where = d.index > 0 ? ` (destination ${d.index})` : '';
      if (d.reqMode === 'http') {
        // A path or domain that was given but refused has its own message already.
        const given = ['servicePath', 'serviceDomain'].some((n) => this.raw.get(`${n.toLowerCase()}.${d.index}`) || this.raw.get(n.toLowerCase()));
        if (d.servicePath.length === 0 && d.serviceDomain.length === 0 && !given) {
          structural = true;
          this.fail('servicePath', undefined, `When using reqMode http, servicePath or serviceDomain are mandatory${where}`, 'incomplete');
        }
      } else if (d.srcPort === undefined || d.port === undefined) {
        this.fail(d.srcPort === undefined ? 'srcPort' : 'port', undefined, `When NOT using reqMode http (e.g. tcp), srcPort and port parameters are mandatory${where}`);
      }
    }
    for (const d of destinations) {
      if (d.redirectFromDomain.length > 0 && !d.serviceDomain.some((x) => !x.startsWith('*'))) {
        this.fail(this.label('redirectFromDomain', d.index), d.redirectFromDomain.join(','), 'needs a serviceDomain (not a wildcard) to redirect to');
      }
    }
    if (!structural) {
      for (const d of destinations) {
        const given = (name: string) => this.raw.get(`${name}.${d.index}`) || this.raw.get(name);
        if (d.reqMode === 'http' && d.port === undefined && d.httpsPort === undefined && !given('port') && !given('httpsport')) {
          // docker-flow-proxy's sentence, which listener users grep their logs for.
          this.fail(d.index > 0 ? `port.${d.index}` : 'port', undefined, `When MODE is set to "service" or "swarm", the port query is mandatory${d.index > 0 ? ` (destination ${d.index})` : ''}`);
        }
      }
    }
    return destinations;
  }

  private destination(index: number): Destination {
    const reqModeRaw = this.str('reqMode', index);
    let reqMode: ReqMode = this.ctx.defaultReqMode ?? 'http';
    if (reqModeRaw !== undefined) {
      if (reqModeRaw === 'http' || reqModeRaw === 'tcp' || reqModeRaw === 'sni') reqMode = reqModeRaw;
      else this.fail(this.label('reqMode', index), reqModeRaw, 'must be http, tcp or sni');
    }
    const pathTypeRaw = this.str('pathType', index);
    let pathType = reqMode === 'sni' ? 'req_ssl_sni -i' : 'path_beg';
    if (pathTypeRaw !== undefined) {
      if (PATH_TYPE.test(pathTypeRaw)) pathType = pathTypeRaw;
      else this.fail(this.label('pathType', index), pathTypeRaw, 'is not a supported path match (path, path_beg, path_end, path_reg, path_dir, path_sub, url_*, req_ssl_sni, with -i or -m)');
    }
    const literal = !/_reg\b|-m reg/.test(pathType);
    const pathCheck = reqMode === 'sni' ? (literal ? checkSniName : checkQuotable) : literal ? checkPath : checkQuotable;
    const servicePath = this.list('servicePath', index, pathCheck);
    if (reqMode === 'http' && /^(path|path_beg|path_dir)( |$)/.test(pathType)) {
      for (const p of servicePath) if (!p.startsWith('/')) this.warn(this.label('servicePath', index), p, 'does not start with "/", so no request path can match it');
    }
    const algoIsRegex = /_reg\(|-m reg/.test(this.ctx.serviceDomainAlgo ?? '') || /_reg\(|-m reg/.test(this.str('serviceDomainAlgo') ?? '');
    const serviceDomain = this.list('serviceDomain', index, algoIsRegex ? checkQuotable : checkDomain).map((d) => (algoIsRegex ? d : d.toLowerCase()));
    if (serviceDomain.length > 0 && servicePath.length === 0 && reqMode === 'http') servicePath.push('/');
    const headers = this.headerRules(index);
    const rewrites = this.rewrites(index);
    const code = this.optNum('httpsRedirectCode', index, (v) => {
      const n = Number(v);
      return /^\d{3}$/.test(v) && REDIRECT_CODES.has(n) ? n : 'must be one of 301, 302, 303, 307, 308';
    });
    const srcPort = this.optNum('srcPort', index, parsePort);
    const port = this.optNum('port', index, parsePort);
    const httpsPort = this.optNum('httpsPort', index, parsePort);
    const outboundHostname = this.str('outboundHostname', index);
    if (outboundHostname !== undefined) this.check(this.label('outboundHostname', index), outboundHostname, checkHost);
    const serviceGroup = this.str('serviceGroup', index);
    if (serviceGroup !== undefined) this.check(this.label('serviceGroup', index), serviceGroup, checkName);
    const balanceGroup = this.str('balanceGroup', index);
    if (balanceGroup !== undefined && !BALANCE.test(balanceGroup)) this.fail(this.label('balanceGroup', index), balanceGroup, 'must be one of roundrobin, static-rr, leastconn, first, source, random');
    const userDef = this.str('userDef', index);
    if (userDef !== undefined) this.check(this.label('userDef', index), userDef, checkPlainText);
    const timeout = (name: string) => this.optNum(name, index, (v) => parseNonNegative(v, 2_147_483));
    const retries = this.optNum('retries', index, (v) => parseNonNegative(v, 10));
    const retryOn = this.keywords('retryOn', index, (v) => (RETRY_ON.has(v) ? undefined : `is not a retry-on condition (${[...RETRY_ON].join(', ')}, or none)`));
    const retryMethods = this.keywords('retryMethods', index, checkMethod);
    const healthCheck = this.str('healthCheck', index) === undefined ? undefined : this.bool('healthCheck', index);
    const checkHttpPath = this.str('checkHttpPath', index);
    // The spec is built only when every value passed, so a refused path never reaches it.
    if (checkHttpPath !== undefined && (!checkHttpPath.startsWith('/') || checkPath(checkHttpPath) !== undefined)) {
      this.fail(this.label('checkHttpPath', index), checkHttpPath, 'must be a path starting with "/" (letters, digits and path characters, no spaces or quotes)');
    }
    const slowStart = this.optNum('slowStart', index, (v) => parseNonNegative(v, 3600));
    const srcHttpsPort = this.optNum('srcHttpsPort', index, parsePort);
    return {
      index,
      reqMode,
      ...(port !== undefined && { port }),
      servicePath,
      pathType,
      servicePathExclude: this.list('servicePathExclude', index, checkPath),
      serviceDomain,
      ...(srcPort !== undefined && { srcPort }),
      ...(httpsPort !== undefined && { httpsPort }),
      ...(srcHttpsPort !== undefined && { srcHttpsPort }),
      httpsOnly: this.ctx.httpsOnly || this.bool('httpsOnly', index),
      ...(code !== undefined && { httpsRedirectCode: code }),
      redirectFromDomain: this.list('redirectFromDomain', index, checkDomain).map((d) => d.toLowerCase()),
      serviceHeader: this.serviceHeaders(index),
      userAgent: this.list('userAgent', index, checkWord),
      allowedMethods: this.list('allowedMethods', index, checkMethod),
      deniedMethods: this.list('deniedMethods', index, checkMethod),
      denyHttp: this.bool('denyHttp', index),
      verifyClientSsl: this.bool('verifyClientSsl', index),
      ignoreAuthorization: this.bool('ignoreAuthorization', index),
      sslVerifyNone: this.bool('sslVerifyNone', index),
      checkTcp: this.bool('checkTcp', index),
      clitcpka: this.bool('clitcpka', index),
      ...withValue('timeoutServer', timeout('timeoutServer')),
      ...withValue('timeoutTunnel', timeout('timeoutTunnel')),
      ...withValue('timeoutClient', timeout('timeoutClient')),
      reqPathSearchReplace: rewrites,
      ...(outboundHostname !== undefined && { outboundHostname: outboundHostname.toLowerCase() }),
      ...(serviceGroup !== undefined && { serviceGroup }),
      ...(balanceGroup !== undefined && { balanceGroup }),
      ...(userDef !== undefined && { userDef }),
      ...(retries !== undefined && { retries }),
      ...(retryOn !== undefined && { retryOn }),
      ...(retryMethods !== undefined && { retryMethods }),
      ...(healthCheck !== undefined && { healthCheck }),
      ...(checkHttpPath !== undefined && { checkHttpPath }),
      ...(slowStart !== undefined && { slowStart }),
      headers,
    };
  }

  /** A list of keywords, or `none` alone (turns the feature off). */
  private keywords(name: string, index: number, check: (v: string) => string | undefined): string[] | undefined {
    const value = this.str(name, index);
    if (value === undefined) return undefined;
    const items = splitPlain(value, this.ctx.separator).flatMap((i) => i.split(/\s+/)).filter((i) => i !== '');
    if (items.length === 1 && items[0] === 'none') return ['none'];
    for (const item of items) this.check(this.label(name, index), item, check);
    return items;
  }

  private serviceHeaders(index: number): HeaderMatch[] {
    const value = this.str('serviceHeader', index);
    if (value === undefined) return [];
    const param = this.label('serviceHeader', index);
    const matches: HeaderMatch[] = [];
    for (const item of splitPlain(value, this.ctx.separator)) {
      const colon = item.indexOf(':');
      const name = colon < 0 ? item : item.slice(0, colon).trim();
      const headerValue = colon < 0 ? '' : item.slice(colon + 1).trim();
      if (colon < 0 || checkToken(name) || headerValue === '' || checkWord(headerValue)) {
        this.fail(param, item, 'must be Name:value pairs (a header name, a colon and a value without spaces or quotes)');
        continue;
      }
      matches.push({ name, value: headerValue });
    }
    return matches;
  }

  private headerRules(index: number): HeaderRules {
    const specs = (name: string) => {
      const items = this.list(name, index, () => undefined, false);
      for (const item of items) this.rawLine(this.label(name, index), item, 'header');
      return items;
    };
    const names = (name: string) => this.list(name, index, checkToken);
    return {
      addReq: specs('addReqHeader'),
      setReq: specs('setReqHeader'),
      delReq: names('delReqHeader'),
      addRes: specs('addResHeader'),
      setRes: specs('setResHeader'),
      delRes: names('delResHeader'),
    };
  }

  private rewrites(index: number): PathRewrite[] {
    const pairs: PathRewrite[] = [];
    const search = this.str('reqPathSearch');
    if (search !== undefined) {
      const replace = this.raw.get('reqpathreplace') ?? '';
      this.check('reqPathSearch', search, checkConverterArg);
      this.check('reqPathReplace', replace, checkConverterArg);
      pairs.push({ search, replace });
    }
    const value = this.str('reqPathSearchReplace', index);
    if (value === undefined) return pairs;
    const param = this.label('reqPathSearchReplace', index);
    for (const pair of value.split(':')) {
      const comma = pair.indexOf(',');
      if (comma <= 0) {
        this.fail(param, pair, 'must be search,replace pairs separated by ":"');
        continue;
      }
      const rewrite = { search: pair.slice(0, comma), replace: pair.slice(comma + 1) };
      this.check(param, rewrite.search, checkConverterArg);
      this.check(param, rewrite.replace, checkConverterArg);
      pairs.push(rewrite);
    }
    return pairs;
  }
}

function dedupe(issues: Issue[]): Issue[] {
  const seen = new Set<string>();
  return issues.filter((i) => !seen.has(i.message) && seen.add(i.message) !== undefined);
}

function checkSniName(value: string): string | undefined {
  return checkDomain(value);
}

function withValue<K extends string>(key: K, value: number | undefined): Partial<Record<K, number>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, number>);
}

function shortValue(value: string): string {
  const visible = value.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return visible.length > 80 ? `${visible.slice(0, 80)}…` : visible;
}
