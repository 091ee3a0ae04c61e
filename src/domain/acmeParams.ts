import { issue, type Issue } from './errors.js';
import { hasControl } from './haproxyText.js';
import type { RawParams } from './params.js';
import { parseBool } from './values.js';

/** What a service asks of ACME: certificates for these names, with this contact. */
export interface AcmeRequest {
  /** Lower-cased DNS names, each one certificate (a failing name never holds up another). */
  domains: string[];
  /** letsencrypt.email: the ACME account's contact for these names (else ACME_EMAIL). */
  email?: string;
}

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const EMAIL = /^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;
/** Most names of one service; a certificate each. */
const MAX_DOMAINS = 100;

/**
 * Why a name cannot get a certificate through HTTP-01, or undefined when it
 * can: a DNS name of at least two labels, no wildcard (HTTP-01 cannot prove
 * one), no IP address. The name ends up in file paths and runtime commands,
 * so nothing else passes.
 */
export function acmeDomainProblem(name: string): string | undefined {
  if (name.startsWith('*')) return 'is a wildcard, which the HTTP-01 challenge cannot validate (it needs DNS-01)';
  if (name.length > 253) return 'is longer than 253 characters';
  const labels = name.split('.');
  if (labels.length < 2 || !labels.every((l) => LABEL.test(l))) return 'is not a DNS name (labels of letters, digits and "-", separated by ".")';
  if (/^\d+$/.test(labels[labels.length - 1] as string)) return 'is an IP address, not a DNS name';
  return undefined;
}

/** Why a contact address is unusable, or undefined. */
export function acmeEmailProblem(email: string): string | undefined {
  if (email.length > 254 || !EMAIL.test(email)) return 'is not an e-mail address';
  return undefined;
}

/**
 * Reads docker-flow-letsencrypt's parameters (`letsencrypt.host`,
 * `letsencrypt.email`) and `acme=true` (every serviceDomain). Pure; every
 * problem is an issue naming the parameter and the value.
 */
export function parseAcmeParams(raw: RawParams, serviceDomains: readonly string[], separator: string): { request?: AcmeRequest; issues: Issue[] } {
  const issues: Issue[] = [];
  const value = (key: string): string | undefined => {
    const v = raw.get(key);
    if (v === undefined || v === '') return undefined;
    if (hasControl(v)) {
      issues.push(issue(key, v, `${canonical(key)} contains a newline or control character.`));
      return undefined;
    }
    return v;
  };
  const hosts = value('letsencrypt.host');
  const email = value('letsencrypt.email');
  const acmeRaw = value('acme');
  let acme = false;
  if (acmeRaw !== undefined) {
    const parsed = parseBool(acmeRaw);
    if (typeof parsed === 'string') issues.push(issue('acme', acmeRaw, `acme "${short(acmeRaw)}" ${parsed}.`));
    else acme = parsed;
  }
  const domains: string[] = [];
  const add = (param: string, name: string) => {
    const lower = name.toLowerCase();
    const problem = acmeDomainProblem(lower);
    if (problem) issues.push(issue(param, name, `${param} "${short(name)}" ${problem}.`));
    else if (!domains.includes(lower)) domains.push(lower);
  };
  if (hosts !== undefined) {
    for (const h of hosts.split(separator).map((x) => x.trim())) {
      if (h === '') continue;
      add('letsencrypt.host', h);
    }
    if (domains.length === 0 && issues.length === 0) issues.push(issue('letsencrypt.host', hosts, `letsencrypt.host "${short(hosts)}" names no domain.`));
  }
  if (acme) {
    if (serviceDomains.length === 0) issues.push(issue('acme', acmeRaw, 'acme=true needs a serviceDomain: it asks for a certificate for every serviceDomain of the service.'));
    for (const d of serviceDomains) add('serviceDomain', d);
  }
  if (domains.length > MAX_DOMAINS) issues.push(issue('letsencrypt.host', undefined, `A service may ask for at most ${MAX_DOMAINS} ACME certificates (${domains.length} given).`));
  if (email !== undefined) {
    const problem = acmeEmailProblem(email);
    if (problem) issues.push(issue('letsencrypt.email', email, `letsencrypt.email "${short(email)}" ${problem}.`));
    if (domains.length === 0 && hosts === undefined && !acme) issues.push(issue('letsencrypt.email', email, 'letsencrypt.email needs letsencrypt.host or acme=true.'));
  }
  if (issues.length > 0 || domains.length === 0) return { issues };
  return { request: { domains, ...(email !== undefined && { email }) }, issues };
}

function canonical(key: string): string {
  return key;
}

function short(value: string): string {
  const visible = value.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return visible.length > 80 ? `${visible.slice(0, 80)}…` : visible;
}
