/** The most a tick may admit beyond its interval's share: what this many seconds of the rate earn. */
export const MAX_CREDIT_SECONDS = 2;

/**
 * The admissions a tick may make: what is left over plus what the rate earned since the last tick
 * began, by the workflow's clock. Ticks are meant to be `tickMs` apart, but a Temporal timer shorter
 * than a second fires up to a second late (history.timerProcessorMaxTimeShift) and a tick's journey
 * starts can take longer than its interval: crediting a fixed `tickMs` worth per tick admitted a
 * fraction of the rate under load (bench/README.md, ninth session). The earned credit is capped, so
 * a long gap (a worker restart) admits at most MAX_CREDIT_SECONDS of the rate at once; the first tick
 * after a sleep (`since` unset) earns one interval's share.
 */
export function earnCredit(credit: number, admitPerSecond: number, tickMs: number, since: number | undefined, now: number): number {
  const perTick = (admitPerSecond * tickMs) / 1000;
  const earned = since === undefined ? perTick : (admitPerSecond * Math.max(0, now - since)) / 1000;
  return Math.min(credit + earned, Math.max(1, perTick, admitPerSecond * MAX_CREDIT_SECONDS));
}
