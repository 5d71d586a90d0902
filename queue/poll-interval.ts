/**
 * How long a waiting fan should wait before polling again (the `Retry-After` of a WAITING answer).
 *
 * It grows with the position so that the whole queue polls within a budget however long it is:
 * with R(p) = p·H/B and H = 1 + ln(N), the total rate Σ 1/R(p) over N waiting fans is about B.
 * It never exceeds the fan's own ETA (a fan near the head is told to come back when it is its turn)
 * and stays within [1 s, maxSeconds]: a fan who stops polling loses the place after
 * QUEUE_POSITION_TTL_SECONDS, several times the longest interval handed out (lib/config.ts).
 */
export function retryAfterSeconds(position: number, waiting: number, etaSeconds: number, pollBudgetPerSecond: number, maxSeconds = 300): number {
  const harmonic = 1 + Math.log(Math.max(waiting, 1));
  const spread = Math.ceil((position * harmonic) / pollBudgetPerSecond);
  return Math.max(1, Math.min(spread, Math.max(1, Math.ceil(etaSeconds)), maxSeconds));
}

/** A pre-queued fan polls again at the opening, or after `maxSeconds` if that is sooner. */
export function preQueueRetryAfterSeconds(opensAtMs: number, nowMs: number, maxSeconds: number): number {
  return Math.max(1, Math.min(Math.ceil((opensAtMs - nowMs) / 1000), maxSeconds));
}

/** ETA of a waiting fan from its position and the current admission rate. */
export function etaSeconds(position: number, admitPerSecond: number): number {
  if (position <= 0) return 0;
  return Math.ceil(position / Math.max(admitPerSecond, 0.001));
}
