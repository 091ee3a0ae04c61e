import { FlowError, type Issue } from '../domain/errors.js';
import type { ResultCode } from '../core/results.js';

/**
 * The one place that knows HTTP statuses: result codes of changes, issues
 * of parsed input and codes of typed errors become the statuses
 * docker-flow-proxy used, and its body shape.
 */

const RESULT_STATUS: Record<ResultCode, number> = {
  REJECTED: 400,
  ACL_TAKEN: 400,
  ROUTE_CONFLICT: 409,
  STORE_CONFLICT: 409,
  STORE_DOWN: 503,
  DISK_FULL: 507,
  STORE_WRITE: 507,
  HAPROXY: 500,
  STARTING: 503,
  INTERNAL: 500,
};

/** Typed errors a caller caused (or can wait out), by code; every other code is a 500. */
const ERROR_STATUS: Readonly<Record<string, number>> = {
  BAD_QUERY: 400,
  BAD_ENCODING: 400,
  BAD_DRY_RUN: 400,
  BAD_EXPLAIN: 400,
  BAD_CERT: 400,
  BAD_CERT_NAME: 400,
  NO_CERT: 400,
  NO_CERT_NAME: 400,
  NO_LISTENER: 400,
  TEMPLATE_LOCATION: 400,
  TEMPLATE_NOT_FOUND: 400,
  UNAUTHORIZED: 401,
  BODY_TOO_LARGE: 413,
  URI_TOO_LONG: 414,
  STORE_CONFLICT: 409,
  STORE_UNAVAILABLE: 503,
  STORE_DENIED: 503,
  DOCKER_UNAVAILABLE: 503,
  DOCKER_EVENTS: 503,
  ABORTED: 503,
  ACME_NO_PEERS: 409,
  BAD_ACME_PUSH: 400,
};

/** The status of a change's result: 200 when it is live. */
export function resultStatus(result: { ok: boolean; code?: ResultCode }): number {
  return result.ok ? 200 : RESULT_STATUS[result.code ?? 'INTERNAL'];
}

/** 409 only when every issue is docker-flow-proxy's 409 case (an HTTP service without path or domain), else 400. */
export function issuesStatus(issues: readonly Issue[]): 400 | 409 {
  return issues.length > 0 && issues.every((i) => i.kind === 'incomplete') ? 409 : 400;
}

/** The status of a thrown error: its code's, or a Koa/HTTP error's own, else 500. */
export function errorStatus(e: unknown): number {
  if (e instanceof FlowError) return ERROR_STATUS[e.code] ?? 500;
  const status = (e as { status?: unknown }).status;
  return typeof status === 'number' && status >= 400 && status < 600 ? status : 500;
}

/** docker-flow-proxy's success body. */
export function ok(serviceName: string, message = ''): Record<string, unknown> {
  return { Status: 'OK', Message: message, ServiceName: serviceName };
}

/** docker-flow-proxy's failure body. */
export function nok(message: string, serviceName: string): Record<string, unknown> {
  return { Status: 'NOK', Message: message, ServiceName: serviceName };
}
