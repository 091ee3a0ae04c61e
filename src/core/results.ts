/**
 * Why a change was not made, as a stable code; the HTTP layer
 * (http/errors.ts) turns codes into statuses and docker-flow-proxy's bodies.
 */
export type ResultCode =
  /** HAProxy or the renderer refused the service (its message says why). */
  | 'REJECTED'
  /** Another service uses the aclName. */
  | 'ACL_TAKEN'
  /** ROUTE_CONFLICT=reject: one of its routes is another service's. */
  | 'ROUTE_CONFLICT'
  /** Another replica changed the same service in the shared store meanwhile. */
  | 'STORE_CONFLICT'
  /** The shared store cannot be reached. */
  | 'STORE_DOWN'
  /** The local disk is full. */
  | 'DISK_FULL'
  /** The state could not be written for another reason. */
  | 'STORE_WRITE'
  /** HAProxy failed in a way no service explains. */
  | 'HAPROXY'
  /** flow-proxy is still starting. */
  | 'STARTING'
  | 'INTERNAL';
