import { earnCredit, MAX_CREDIT_SECONDS } from '../../workflows/admission-credit';

describe('admission credit: what a tick may admit', () => {
  it('earns the rate over the time since the last tick began, not one interval’s share', () => {
    // 50/s, ticks meant 200 ms apart, but the timer fired 1.3 s after the last tick began (late timers).
    expect(earnCredit(0.4, 50, 200, 10_000, 11_300)).toBeCloseTo(0.4 + 65);
    // A tick that follows at once after a 450 ms tick earns the 450 ms.
    expect(earnCredit(0, 50, 200, 10_000, 10_450)).toBeCloseTo(22.5);
  });

  it('keeps fractions: 0.5/s admits one fan every two seconds', () => {
    let credit = 0;
    let admitted = 0;
    for (let at = 1000; at <= 10_000; at += 1000) {
      credit = earnCredit(credit, 0.5, 1000, at - 1000, at);
      const batch = Math.floor(credit);
      credit -= batch;
      admitted += batch;
    }
    expect(admitted).toBe(5);
  });

  it('caps a long gap at a few seconds of the rate, and at least one fan', () => {
    expect(earnCredit(0, 50, 200, 0, 3_600_000)).toBe(50 * MAX_CREDIT_SECONDS);
    expect(earnCredit(0, 0.1, 200, 0, 3_600_000)).toBe(1);
    // An interval longer than the cap's seconds still earns its whole share.
    expect(earnCredit(0, 10, 5_000, 0, 60_000)).toBe(50);
  });

  it('gives the first tick after a sleep one interval’s share: the sleep earned nothing', () => {
    expect(earnCredit(0, 50, 200, undefined, 99_999)).toBe(10);
  });

  it('earns nothing from a clock that went back', () => {
    expect(earnCredit(2, 50, 200, 5_000, 4_000)).toBe(2);
  });
});
