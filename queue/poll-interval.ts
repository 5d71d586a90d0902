/**
 * How long a waiting fan should wait before polling again (the `Retry-After` of a WAITING answer).
 *
 * It grows with the position so that the whole queue polls within a budget however long it is:
 * with R(p) = p·H/B and H = 1 + ln(N), the total rate Σ 1/R(p) over N waiting fans is about B.
 * It never exceeds the fan's own ETA (a fan near the head is told to come back when it is its turn)
 * and stays within [1 s, 300 s].
 */
export function retryAfterSeconds(position: number, waiting: number, etaSeconds: number, pollBudgetPerSecond: number): number {
  const harmonic = 1 + Math.log(Math.max(waiting, 1));
  const spread = Math.ceil((position * harmonic) / pollBudgetPerSecond);
  return Math.max(1, Math.min(spread, Math.max(1, Math.ceil(etaSeconds)), 300));
}

/** ETA of a waiting fan from its position and the current admission rate. */
export function etaSeconds(position: number, admitPerSecond: number): number {
  if (position <= 0) return 0;
  return Math.ceil(position / Math.max(admitPerSecond, 0.001));
}
