import { describeIssues, type Issue } from '../domain/errors.js';
import type { RawResult } from '../domain/params.js';
import { parseService, type ParseContext } from '../domain/parse.js';
import type { Entry, Owner } from '../domain/registry.js';
import type { RequestOptions } from '../domain/spec.js';
import type { CommandResult, Engine } from './engine.js';

/** The answer to a reconfigure or remove, in docker-flow-proxy's terms. */
export interface ServiceAnswer {
  status: number;
  body: Record<string, unknown>;
  options?: RequestOptions;
  stamp?: number;
}

export interface ServiceDeps {
  engine: Engine;
  parseContext: ParseContext;
  /** FILTER_PROXY_INSTANCE_NAME: requests for another proxy instance are acknowledged and ignored. */
  instanceFilter?: string;
  /** Stores a certificate sent in serviceCert; returns an error sentence on failure. */
  saveServiceCert?: (name: string, pem: string) => Promise<string | undefined>;
}

/** Status for a list of issues: 409 only when every issue is docker-flow-proxy's 409 case. */
export function statusOf(issues: readonly Issue[]): 400 | 409 {
  return issues.every((i) => i.status === 409) ? 409 : 400;
}

/** Parses a service from any source into a registry entry, or the issues that stop it. */
export function toEntry(raw: RawResult, ctx: ParseContext, owner: Owner): { ok: true; entry: Entry; options: RequestOptions } | { ok: false; issues: Issue[]; serviceName?: string } {
  if (raw.issues.length > 0) return { ok: false, issues: raw.issues };
  const parsed = parseService(raw.params, ctx);
  if (!parsed.ok) return parsed;
  const warnings = [...(raw.warnings ?? []), ...parsed.warnings].map((w) => w.message);
  return {
    ok: true,
    entry: { name: parsed.spec.serviceName, owner, params: parsed.spec.params, spec: parsed.spec, ...(warnings.length > 0 && { warnings }) },
    options: parsed.options,
  };
}

/** reconfigure: validate, then wait until the change is live (or rejected). */
export async function reconfigure(raw: RawResult, deps: ServiceDeps, changeId: string, owner: Owner = 'api', stamp?: number): Promise<ServiceAnswer> {
  const parsed = toEntry(raw, deps.parseContext, owner);
  if (!parsed.ok) {
    return { status: statusOf(parsed.issues), body: nok(describeIssues(parsed.issues), parsed.serviceName ?? raw.params.get('servicename') ?? '') };
  }
  const { entry, options } = parsed;
  const name = entry.name;
  if (deps.instanceFilter !== undefined && entry.spec.proxyInstanceName !== undefined && entry.spec.proxyInstanceName !== deps.instanceFilter) {
    return { status: 200, body: ok(name, 'Ignored: the request is for another proxy instance.'), options };
  }
  if (options.serviceCert !== undefined && deps.saveServiceCert) {
    const certName = entry.spec.destinations[0]?.serviceDomain.find((d) => !d.startsWith('*')) ?? name;
    const problem = await deps.saveServiceCert(certName, options.serviceCert);
    if (problem) return { status: 400, body: nok(problem, name), options };
  }
  const stamped = stamp !== undefined ? { stamp } : {};
  const result = entry.spec.replicas === 0
    ? await deps.engine.submit({ kind: 'remove', name, ...stamped }, changeId)
    : await deps.engine.submit({ kind: 'upsert', entry, ...stamped }, changeId);
  const body = answer(result, name);
  const warnings = [...(entry.warnings ?? []), ...(result.warnings ?? [])];
  if (warnings.length > 0) body.Warnings = warnings;
  return { status: result.status, body, options, ...(result.stamp !== undefined && { stamp: result.stamp }) };
}

/** remove: serviceName is mandatory; an unknown service is a no-op, as in docker-flow-proxy. */
export async function removeService(name: string | undefined, deps: ServiceDeps, changeId: string, stamp?: number): Promise<ServiceAnswer> {
  if (name === undefined || name === '') return { status: 400, body: nok('The serviceName query is mandatory', '') };
  const result = await deps.engine.submit({ kind: 'remove', name, ...(stamp !== undefined && { stamp }) }, changeId);
  return { status: result.status, body: answer(result, name), ...(result.stamp !== undefined && { stamp: result.stamp }) };
}

export function answer(result: CommandResult, serviceName: string): Record<string, unknown> {
  if (!result.ok) return nok(result.message, serviceName);
  return {
    ...ok(serviceName, result.message),
    ...(result.apply && {
      Applied: { Kind: result.apply.kind, Reason: result.apply.reason, DurationMs: Math.round(result.apply.durationMs * 100) / 100, Apply: result.apply.id },
    }),
  };
}

export function ok(serviceName: string, message = ''): Record<string, unknown> {
  return { Status: 'OK', Message: message, ServiceName: serviceName };
}

export function nok(message: string, serviceName: string): Record<string, unknown> {
  return { Status: 'NOK', Message: message, ServiceName: serviceName };
}
