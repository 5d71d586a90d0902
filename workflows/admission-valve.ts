import type { LatencyTargets, QueueSettings, ServiceHealth } from './definitions';

/** Fewer served calls than this in a window say nothing about latency: the valve treats them as none. */
export const MIN_SAMPLES = 5;
/** Multiplicative decrease on a missed target: a saturated server needs relief now, not in a minute. */
const BACKOFF_FACTOR = 0.7;
/** Healthy means below this share of the target: the band between it and the target holds the rate still. */
const HEADROOM = 0.8;
/** Additive increase per healthy look, as a share of the operator's range (at least 1 fan/s). */
const STEP_SHARE = 0.05;

export const DEFAULT_LATENCY_TARGETS: LatencyTargets = { holdP95Ms: 500, payP95Ms: 1500 };

export interface ValveView {
  settings: QueueSettings;
  health: ServiceHealth;
  waiting: number;
  active: number;
}

export interface ValveDecision {
  to: number;
  reason: string;
}

const round1 = (n: number) => Math.round(n * 10) / 10;

/**
 * The adaptive admission valve, additive-increase / multiplicative-decrease (as TCP finds a link's
 * capacity): admitting more fans is what loads Temporal and Postgres, and latency is where that load
 * shows. When the hold or payment p95 misses its target the rate drops by 30 %; while holds (and
 * payments, once there are any) sit well under their targets and fans are waiting for places that
 * exist, it grows by a step; in between, and without enough holds to judge, it holds. Always within
 * the operator's bounds. Returns undefined when the rate should stay.
 */
export function adjustAdmissionRate({ settings, health, waiting, active }: ValveView, targets: LatencyTargets): ValveDecision | undefined {
  const { admitPerSecond: rate, minAdmitPerSecond: min, maxAdmitPerSecond: max } = settings;
  const move = (to: number, reason: string) => (to === rate ? undefined : { to, reason });

  if (rate < min || rate > max) return move(Math.min(max, Math.max(min, rate)), `kept within the operator's bounds [${min}, ${max}]`);

  const hold = health.holds >= MIN_SAMPLES ? health.holdP95Ms : undefined;
  const pay = health.payments >= MIN_SAMPLES ? health.payP95Ms : undefined;
  const missed = [
    hold !== undefined && hold > targets.holdP95Ms ? `hold p95 ${hold} ms > target ${targets.holdP95Ms} ms` : undefined,
    pay !== undefined && pay > targets.payP95Ms ? `payment p95 ${pay} ms > target ${targets.payP95Ms} ms` : undefined,
  ].filter(Boolean);
  if (missed.length > 0) return move(Math.max(min, round1(rate * BACKOFF_FACTOR)), `backed off: ${missed.join(', ')}`);

  const near = (hold !== undefined && hold > HEADROOM * targets.holdP95Ms) || (pay !== undefined && pay > HEADROOM * targets.payP95Ms);
  // Growth needs evidence: holds answered in the window. Without them the rate stays: a box so slow
  // that no hold answers within the window looked healthy, and the rate grew while it drowned.
  if (hold === undefined || near || waiting === 0 || active >= settings.maxActive) return undefined;
  const step = Math.max(1, STEP_SHARE * (max - min));
  const seen = [`hold p95 ${hold} ms`, pay !== undefined ? `payment p95 ${pay} ms` : 'no payments yet'];
  return move(Math.min(max, round1(rate + step)), `healthy: ${seen.join(', ')}; ${waiting} waiting`);
}
