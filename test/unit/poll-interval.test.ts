import { etaSeconds, preQueueRetryAfterSeconds, retryAfterSeconds } from '../../queue/poll-interval';

const WAITING = 300_000;
const BUDGET = 5_000;
const ADMIT_PER_SECOND = 50;

/** The Retry-After a fan at `position` of `waiting` is told, with the ETA the API computes for it. */
const retryAfterAt = (position: number, waiting = WAITING, budget = BUDGET) =>
  retryAfterSeconds(position, waiting, etaSeconds(position, ADMIT_PER_SECOND), budget);

/** Retry-After of every position of a 300,000-fan queue (index = position), computed once for the file. */
const told = new Float64Array(WAITING + 1);
beforeAll(() => {
  for (let position = 1; position <= WAITING; position++) told[position] = retryAfterAt(position);
});

const positionsWhere = (bad: (seconds: number, position: number) => boolean) => {
  const found: number[] = [];
  for (let position = 1; position <= WAITING; position++) if (bad(told[position], position)) found.push(position);
  return found.slice(0, 10);
};

describe('Retry-After of a waiting fan', () => {
  it('grows with the position: nobody behind is told to poll sooner than someone ahead', () => {
    expect(positionsWhere((seconds, position) => position > 1 && seconds < told[position - 1])).toEqual([]);
    expect(told[WAITING]).toBeGreaterThan(told[1]);
    expect(told[WAITING]).toBeGreaterThan(told[WAITING / 10]);
  });

  it('is never below 1 second nor above 300 seconds', () => {
    expect(positionsWhere((seconds) => seconds < 1 || seconds > 300)).toEqual([]);
    const extremes: Array<[position: number, waiting: number, eta: number, budget: number]> = [
      [1, 1, 0, BUDGET],
      [1, 1, 0.2, BUDGET],
      [0, 10, 0, BUDGET],
      [5, 10, 1, 1_000_000],
      [1_000_000, 1_000_000, 1e9, 1],
      [WAITING, WAITING, 6_000, 0.5],
    ];
    for (const [position, waiting, eta, budget] of extremes) {
      const seconds = retryAfterSeconds(position, waiting, eta, budget);
      expect(seconds).toBeGreaterThanOrEqual(1);
      expect(seconds).toBeLessThanOrEqual(300);
    }
  });

  it('is a whole number of seconds (a valid Retry-After header)', () => {
    expect(positionsWhere((seconds) => !Number.isInteger(seconds))).toEqual([]);
  });

  it('never exceeds the fan’s own ETA: a fan near the head comes back when it is its turn', () => {
    expect(positionsWhere((seconds, position) => seconds > Math.max(1, etaSeconds(position, ADMIT_PER_SECOND)))).toEqual([]);
    for (const waiting of [10, 1_000]) {
      for (let position = 1; position <= waiting; position++) {
        const eta = etaSeconds(position, ADMIT_PER_SECOND);
        expect(retryAfterSeconds(position, waiting, eta, BUDGET)).toBeLessThanOrEqual(Math.max(1, eta));
      }
    }
    // A tiny budget would spread fans out far; the ETA still bounds the head.
    expect(retryAfterSeconds(3, WAITING, 2, 1)).toBeLessThanOrEqual(2);
  });

  it('keeps the polling of 300,000 waiting fans within a budget of 5,000 requests per second', () => {
    let pollsPerSecond = 0;
    for (let position = 1; position <= WAITING; position++) pollsPerSecond += 1 / told[position];
    expect(pollsPerSecond).toBeLessThanOrEqual(BUDGET);
  });
});

describe('ETA of a waiting fan', () => {
  it('is the position over the admission rate, rounded up, and 0 once admitted', () => {
    expect(etaSeconds(0, 50)).toBe(0);
    expect(etaSeconds(1, 50)).toBe(1);
    expect(etaSeconds(50, 50)).toBe(1);
    expect(etaSeconds(51, 50)).toBe(2);
    expect(etaSeconds(300_000, 50)).toBe(6_000);
  });

  it('stays finite when admission is paused at rate 0', () => {
    expect(Number.isFinite(etaSeconds(10, 0))).toBe(true);
  });
});

describe('the longest Retry-After and the pre-queue’s (issue 21)', () => {
  it('never exceeds the configured maximum, however deep the fan', () => {
    expect(retryAfterSeconds(250_000, 300_000, 5_000, 5_000, 60)).toBe(60);
    expect(retryAfterSeconds(250_000, 300_000, 5_000, 5_000)).toBe(300);
  });

  it('a pre-queued fan comes back at the opening, or after the maximum if sooner', () => {
    expect(preQueueRetryAfterSeconds(10_000 + 4_200, 10_000, 60)).toBe(5);
    expect(preQueueRetryAfterSeconds(10_000 + 3_600_000, 10_000, 60)).toBe(60);
    expect(preQueueRetryAfterSeconds(10_000, 10_000, 60)).toBe(1);
  });
});
