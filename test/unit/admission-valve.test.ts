import { percentile, LATENCY_BOUNDS_MS } from '../../queue/latency-window';
import { adjustAdmissionRate, DEFAULT_LATENCY_TARGETS, type ValveView } from '../../workflows/admission-valve';
import type { QueueSettings, ServiceHealth } from '../../workflows/definitions';

interface Overrides {
  settings?: Partial<QueueSettings>;
  health?: ServiceHealth;
  waiting?: number;
  active?: number;
}

const view = (over: Overrides = {}): ValveView => ({
  settings: { admitPerSecond: 100, maxActive: 1000, paused: false, adaptive: true, minAdmitPerSecond: 10, maxAdmitPerSecond: 210, ...over.settings },
  health: { holdP95Ms: 200, holds: 50, payP95Ms: 600, payments: 20, ...over.health },
  waiting: over.waiting ?? 5000,
  active: over.active ?? 100,
});
const adjust = (over: Overrides = {}) => adjustAdmissionRate(view(over), DEFAULT_LATENCY_TARGETS);

describe('the adaptive admission valve', () => {
  it('backs off by 30 % when either latency misses its target, naming which', () => {
    expect(adjust({ health: { holdP95Ms: 650, holds: 50, payments: 0 } })).toEqual({ to: 70, reason: 'backed off: hold p95 650 ms > target 500 ms' });
    expect(adjust({ health: { holdP95Ms: 100, holds: 50, payP95Ms: 2000, payments: 9 } })).toEqual({
      to: 70,
      reason: 'backed off: payment p95 2000 ms > target 1500 ms',
    });
  });

  it('never goes below the floor, and says nothing once there', () => {
    expect(adjust({ settings: { admitPerSecond: 12 }, health: { holdP95Ms: 3000, holds: 50, payments: 0 } })?.to).toBe(10);
    expect(adjust({ settings: { admitPerSecond: 10 }, health: { holdP95Ms: 3000, holds: 50, payments: 0 } })).toBeUndefined();
  });

  it('grows by 5 % of the range while healthy and fans wait for free places, up to the ceiling', () => {
    expect(adjust()).toEqual({ to: 110, reason: 'healthy: hold p95 200 ms, payment p95 600 ms; 5000 waiting' });
    expect(adjust({ settings: { admitPerSecond: 205 } })?.to).toBe(210);
    expect(adjust({ settings: { admitPerSecond: 210 } })).toBeUndefined();
  });

  it('holds still near the target, with no one waiting, or with every place taken', () => {
    expect(adjust({ health: { holdP95Ms: 450, holds: 50, payments: 0 } })).toBeUndefined();
    expect(adjust({ waiting: 0 })).toBeUndefined();
    expect(adjust({ active: 1000 })).toBeUndefined();
  });

  it('treats a handful of calls as no evidence: too few to back off on, or to grow on', () => {
    expect(adjust({ health: { holdP95Ms: 5000, holds: 4, payments: 0 } })).toBeUndefined();
    expect(adjust({ health: { holds: 0, payments: 0 } })).toBeUndefined();
    // Holds alone are evidence enough (payments come later in a fan's visit).
    expect(adjust({ health: { holdP95Ms: 200, holds: 5, payments: 0 } })).toEqual({ to: 110, reason: 'healthy: hold p95 200 ms, no payments yet; 5000 waiting' });
  });

  it('brings a rate outside the bounds inside them first', () => {
    expect(adjust({ settings: { admitPerSecond: 500 } })).toEqual({ to: 210, reason: "kept within the operator's bounds [10, 210]" });
    expect(adjust({ settings: { admitPerSecond: 1 } })?.to).toBe(10);
  });
});

describe('latency percentiles from bucket counts', () => {
  const counts = (entries: Array<[number, number]>) => {
    const all = new Array<number>(LATENCY_BOUNDS_MS.length).fill(0);
    for (const [boundMs, n] of entries) all[LATENCY_BOUNDS_MS.indexOf(boundMs)] = n;
    return all;
  };

  it('reports the upper bound of the bucket holding the 95th percentile', () => {
    expect(percentile(counts([[100, 95], [1000, 5]]), 0.95)).toEqual({ p95Ms: 100, samples: 100 });
    expect(percentile(counts([[100, 94], [1000, 6]]), 0.95)).toEqual({ p95Ms: 1000, samples: 100 });
  });

  it('has no percentile without samples', () => {
    expect(percentile(counts([]), 0.95)).toEqual({ p95Ms: undefined, samples: 0 });
  });
});
