/**
 * `base` with some of its fields set to `extra`'s, as a new object: what
 * `{ ...base, ...extra }` means. Built by assigning onto `{}` because V8
 * (Node 20) gives every object made by a spread followed by a field the
 * spread did not have a hidden class of its own (`{ ...entry, stamp }` 2,000
 * times: 1,992 classes, 216 bytes each, and property reads on them go
 * megamorphic); assigned, they share one. Use it for objects kept per service
 * or per server (docs/benchmarks.md §13, session of 2026-12-03).
 */
export function withFields<T extends object, K extends keyof T>(base: T, extra: Pick<T, K>): T {
  return Object.assign({}, base, extra);
}
