/** Exponential backoff with a cap: the delay before attempt `n` (1-based; attempt 1 has none). */
export function retryDelay(attempt: number, baseMs: number, maxMs: number): number {
  if (attempt <= 1) return 0;
  return Math.min(maxMs, baseMs * 2 ** (attempt - 2));
}
