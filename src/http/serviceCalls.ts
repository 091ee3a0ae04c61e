import type { CommandResult } from '../core/ports.js';
import type { Reconciler } from '../core/reconcile/reconciler.js';
import { toEntry } from '../domain/entry.js';
import { describeIssues } from '../domain/errors.js';
import type { RawResult } from '../domain/params.js';
import type { ParseContext } from '../domain/parse.js';
import type { Owner } from '../domain/registry.js';
import type { RequestOptions } from '../domain/spec.js';
import { issuesStatus, nok, ok, resultStatus } from './errors.js';

/** The answer to a reconfigure or remove, in docker-flow-proxy's terms. */
export interface ServiceAnswer {
  status: number;
  body: Record<string, unknown>;
  options?: RequestOptions;
  stamp?: number;
}

export interface ServiceDeps {
  engine: Reconciler;
  parseContext: ParseContext;
  /** FILTER_PROXY_INSTANCE_NAME: requests for another proxy instance are acknowledged and ignored. */
  instanceFilter?: string;
  /** Stores a certificate sent in serviceCert; returns an error sentence on failure. */
  saveServiceCert?: (name: string, pem: string) => Promise<string | undefined>;
}

/** reconfigure: validate, then wait until the change is live (or refused). */
export async function reconfigure(raw: RawResult, deps: ServiceDeps, changeId: string, owner: Owner = 'api', stamp?: number): Promise<ServiceAnswer> {
  const parsed = toEntry(raw, deps.parseContext, owner);
  if (!parsed.ok) {
    return { status: issuesStatus(parsed.issues), body: nok(describeIssues(parsed.issues), parsed.serviceName ?? raw.params.get('servicename') ?? '') };
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
  return { status: resultStatus(result), body, options, ...(result.stamp !== undefined && { stamp: result.stamp }) };
}

/** remove: serviceName is mandatory; an unknown service is a no-op, as in docker-flow-proxy. */
export async function removeService(name: string | undefined, deps: ServiceDeps, changeId: string, stamp?: number): Promise<ServiceAnswer> {
  if (name === undefined || name === '') return { status: 400, body: nok('The serviceName query is mandatory', '') };
  const result = await deps.engine.submit({ kind: 'remove', name, ...(stamp !== undefined && { stamp }) }, changeId);
  return { status: resultStatus(result), body: answer(result, name), ...(result.stamp !== undefined && { stamp: result.stamp }) };
}

/** A change's result as docker-flow-proxy's body, with how it was made live. */
export function answer(result: CommandResult, serviceName: string): Record<string, unknown> {
  if (!result.ok) return nok(result.message, serviceName);
  return {
    ...ok(serviceName, result.message),
    ...(result.apply && {
      Applied: { Kind: result.apply.kind, Reason: result.apply.reason, DurationMs: Math.round(result.apply.durationMs * 100) / 100, Apply: result.apply.id },
    }),
  };
}
