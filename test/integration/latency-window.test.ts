import type { Redis } from '../../lib/redis';
import { LatencyWindow } from '../../queue/latency-window';
import { openRedis } from './fixtures';

/**
 * The hold and payment latencies the admission valve reads, on the real Redis test database. Each
 * window has a clock of its own, fixed on a random day years from now, so no other recording counts.
 */

let redis: Redis;
beforeAll(async () => {
  redis = await openRedis();
});
afterAll(async () => {
  jest.restoreAllMocks();
  await redis?.quit();
});

const someDayToCome = () => Date.UTC(2031, 0, 1) + Math.floor(Math.random() * 100_000) * 86_400_000;

describe('the latency window', () => {
  it('sends the recordings of a batch in one round trip per call, and reads them back exactly', async () => {
    let nowMs = someDayToCome();
    const window = new LatencyWindow(redis, () => nowMs, 20);
    const pipelines = jest.spyOn(redis, 'pipeline');

    // As an API instance answers holds and payments: recordings arrive one by one, nobody waiting on them.
    const recorded: Array<Promise<void>> = [];
    for (let i = 0; i < 56; i++) recorded.push(window.record('hold', 40));
    nowMs += 1_000; // the batch spans two seconds: two histograms
    for (let i = 0; i < 4; i++) recorded.push(window.record('hold', 900)); // 4 of 60: over 5 %
    for (let i = 0; i < 20; i++) recorded.push(window.record('pay', 40));
    await Promise.all(recorded);

    expect(pipelines).toHaveBeenCalledTimes(2); // one per call: on a cluster each call's histograms are one slot
    pipelines.mockRestore();
    expect(await window.p95('hold', 10)).toEqual({ p95Ms: 1000, samples: 60 });
    expect(await window.p95('hold', 1)).toEqual({ p95Ms: 1000, samples: 4 });
    expect(await window.p95('pay', 1)).toEqual({ p95Ms: 50, samples: 20 });
  });

  it('puts a recording made after a batch left into the next one, so none is lost or counted twice', async () => {
    const nowMs = someDayToCome();
    const window = new LatencyWindow(redis, () => nowMs, 20);
    const first = window.record('pay', 40);
    await first;
    const second = window.record('pay', 40);
    expect(second).not.toBe(first);
    await Promise.all([second, window.record('pay', 40)]);
    expect(await window.p95('pay', 1)).toEqual({ p95Ms: 50, samples: 3 });
  });
});
