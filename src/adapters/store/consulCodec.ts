import type { StoredService } from '../../core/ports.js';

/** A key's value decoded: the service and its content key, or why it is not a service. */
export type Decoded = { ok: true; service: StoredService; json: string } | { ok: false; reason: string };

/**
 * The value of `<prefix>/services/<name>`: JSON `{owner, params, stamp?}`
 * with the parameters in key order. The stamp (write time) is kept for
 * replicas that also exchange state with peers.
 */
export function encodeService(service: StoredService): string {
  return JSON.stringify({ owner: service.owner, params: sortedParams(service.params), ...(service.stamp !== undefined && { stamp: service.stamp }) });
}

/**
 * What two values are compared by: owner and parameters, without the
 * stamp. Consul's ModifyIndex already orders writes, and two replicas that
 * apply the same change stamp it differently: that is the same service.
 */
export function serviceContent(service: StoredService): string {
  return JSON.stringify({ owner: service.owner, params: sortedParams(service.params) });
}

/**
 * Reads a key's value back. The key names the service: a value without
 * serviceName gets it from the key, a value naming another service is
 * refused (the registry would file it under a name the key does not have).
 */
export function decodeService(raw: string, name: string): Decoded {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (e) {
    return { ok: false, reason: `not JSON (${e instanceof Error ? e.message : String(e)})` };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { ok: false, reason: 'not a JSON object' };
  const { owner, params, stamp } = parsed as { owner?: unknown; params?: unknown; stamp?: unknown };
  if (owner !== 'api' && owner !== 'env') return { ok: false, reason: `owner ${JSON.stringify(owner)} is neither "api" nor "env"` };
  if (typeof params !== 'object' || params === null || Array.isArray(params)) return { ok: false, reason: 'params is not an object' };
  const copy: Record<string, string> = {};
  for (const [k, v] of Object.entries(params)) {
    if (typeof v !== 'string') return { ok: false, reason: `parameter ${k} is not a string` };
    copy[k] = v;
  }
  if (copy.serviceName === undefined) copy.serviceName = name;
  else if (copy.serviceName !== name) return { ok: false, reason: `it holds service "${copy.serviceName}", not "${name}"` };
  // A stamp that is not a number is only a lost write time, not a reason to drop the service.
  const service: StoredService = { owner, params: copy, ...(typeof stamp === 'number' && Number.isFinite(stamp) && { stamp }) };
  return { ok: true, service, json: serviceContent(service) };
}

function sortedParams(params: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(params).sort()) out[k] = params[k]!;
  return out;
}
