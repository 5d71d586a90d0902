/**
 * What both versions of the admission controller (this one's and workflows/legacy/) decide the same
 * way: how far back the valve looks, and which settings an operator may set. Pure, no commands.
 */
import { refuse } from './failures';
import type { QueueSettings, QueueSettingsPatch, RateAdjustment } from './definitions';

/** The most admitted fans per seat left an operator may set: beyond it the cap caps nothing. */
export const MAX_ADMIT_PER_SEAT = 100;

/** The valve reads the latency of the last this-many seconds: long enough for a p95, short enough to react. */
const HEALTH_WINDOW_SECONDS = 10;

/**
 * The valve judges a rate by the latency it produced: the window starts after the last adjustment
 * (so one slow spell does not back off twice) and spans at most HEALTH_WINDOW_SECONDS.
 */
export function healthWindowSeconds(lastAdjustment: RateAdjustment | undefined): number {
  const sinceAdjustment = lastAdjustment ? Math.floor((Date.now() - Date.parse(lastAdjustment.at)) / 1000) : Infinity;
  return Math.max(1, Math.min(HEALTH_WINDOW_SECONDS, sinceAdjustment));
}

/** Refuses a change that is nonsense alone (a negative rate) or together with the settings it lands on. */
export function validateSettings(patch: QueueSettingsPatch, current: QueueSettings): void {
  const rate = (name: string, value: number | undefined) => {
    if (value !== undefined && !(Number.isFinite(value) && value > 0 && value <= 10_000)) {
      throw refuse('VALIDATION_FAILED', `${name} must be in (0, 10000]`);
    }
  };
  rate('admitPerSecond', patch.admitPerSecond);
  rate('minAdmitPerSecond', patch.minAdmitPerSecond);
  rate('maxAdmitPerSecond', patch.maxAdmitPerSecond);
  const { maxActive, paused, adaptive, admitPerSeat } = patch;
  if (admitPerSeat !== undefined && !(Number.isFinite(admitPerSeat) && admitPerSeat > 0 && admitPerSeat <= MAX_ADMIT_PER_SEAT)) {
    throw refuse('VALIDATION_FAILED', `admitPerSeat must be in (0, ${MAX_ADMIT_PER_SEAT}]`);
  }
  if (maxActive !== undefined && !(Number.isInteger(maxActive) && maxActive >= 1 && maxActive <= 1_000_000)) {
    throw refuse('VALIDATION_FAILED', 'maxActive must be an integer in [1, 1000000]');
  }
  if (paused !== undefined && typeof paused !== 'boolean') throw refuse('VALIDATION_FAILED', 'paused must be a boolean');
  if (adaptive !== undefined && typeof adaptive !== 'boolean') throw refuse('VALIDATION_FAILED', 'adaptive must be a boolean');
  const next = { ...current, ...patch };
  if (next.minAdmitPerSecond > next.maxAdmitPerSecond) {
    throw refuse('VALIDATION_FAILED', `minAdmitPerSecond (${next.minAdmitPerSecond}) must not exceed maxAdmitPerSecond (${next.maxAdmitPerSecond})`);
  }
}
