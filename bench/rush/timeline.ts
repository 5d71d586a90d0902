/** The rush's samples from every generator, merged, and cut into figures per second and per window. */
import type { Series } from '../lib/plots';
import { percentile, type Measurement } from '../lib/stats';
import { OPS, UNSENT, type GeneratorResult, type Op, type OpSamples } from './protocol';

export interface Merged {
  samples: Record<Op, OpSamples>;
  outcomes: Record<Op, Record<string, number>>;
  admittedAt: Float32Array;
  endings: Record<string, number>;
}

function concat<T extends Float32Array | Uint16Array>(parts: T[]): T {
  const out = new (parts[0].constructor as new (n: number) => T)(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const add = (into: Record<string, number>, from: Record<string, number>) => {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
};

export function merge(results: GeneratorResult[]): Merged {
  const samples = {} as Record<Op, OpSamples>;
  const outcomes = {} as Record<Op, Record<string, number>>;
  for (const op of OPS) {
    const parts = results.map((r) => r.samples[op]);
    samples[op] = {
      due: concat(parts.map((p) => p.due)),
      sent: concat(parts.map((p) => p.sent)),
      done: concat(parts.map((p) => p.done)),
      status: concat(parts.map((p) => p.status)),
    };
    outcomes[op] = {};
    for (const r of results) add(outcomes[op], r.outcomes[op]);
  }
  const endings: Record<string, number> = {};
  for (const r of results) add(endings, r.endings);
  return { samples, outcomes, admittedAt: concat(results.map((r) => r.admittedAt)), endings };
}

/** The answers that count as served for each op (a 409 on a hold is a lost race, not a hold). */
export const OK: Record<Op, (status: number) => boolean> = {
  join: (s) => s === 200 || s === 201,
  poll: (s) => s === 200,
  seats: (s) => s === 200,
  hold: (s) => s === 201,
  pay: (s) => s === 201,
};

/** Latencies (ms, from when each request was due) of the served answers, and their completion times. */
export function served(s: OpSamples, ok: (status: number) => boolean): { at: number[]; ms: number[] } {
  const at: number[] = [];
  const ms: number[] = [];
  for (let i = 0; i < s.status.length; i++) {
    if (!ok(s.status[i])) continue;
    at.push(s.done[i]);
    ms.push((s.done[i] - s.due[i]) * 1000);
  }
  return { at, ms };
}

/** Events per second over [0, seconds): bucket k counts times in [k, k + 1). */
export function perSecond(times: ArrayLike<number>, seconds: number): Array<[number, number]> {
  const counts = new Array<number>(Math.ceil(seconds)).fill(0);
  for (let i = 0; i < times.length; i++) {
    const k = Math.floor(times[i]);
    if (k >= 0 && k < counts.length) counts[k]++;
  }
  return counts.map((n, k) => [k, n]);
}

/** Percentile `p` of the latencies completed in each `windowS`-second window (NaN when none). */
export function percentileOver(at: number[], ms: number[], seconds: number, windowS: number, p: number): Array<[number, number]> {
  const buckets: number[][] = Array.from({ length: Math.ceil(seconds / windowS) }, () => []);
  for (let i = 0; i < at.length; i++) {
    const k = Math.floor(at[i] / windowS);
    if (k >= 0 && k < buckets.length) buckets[k].push(ms[i]);
  }
  return buckets.map((b, k) => [k * windowS, percentile(b.sort((x, y) => x - y), p)]);
}

/** One op over the whole run as a report row: served rate over `seconds`, latencies, every other answer an error. */
export function opMeasurement(name: string, op: Op, m: Merged, seconds: number, connections: number): Measurement {
  const { ms } = served(m.samples[op], OK[op]);
  const sorted = ms.sort((a, b) => a - b);
  // Requests whose turn came but that never went out before the end are neither served nor refused.
  const total = Object.entries(m.outcomes[op]).reduce((a, [outcome, n]) => (outcome === UNSENT ? a : a + n), 0);
  return {
    name,
    concurrency: connections,
    requests: total,
    durationS: seconds,
    rate: sorted.length / seconds,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    errors: total - sorted.length,
    statuses: m.outcomes[op],
    notes: [],
  };
}

export const series = (name: string, points: Array<[number, number]>): Series => ({ name, points });

/** The highest value of a series (NaN when it has none). */
export const peak = (points: Array<[number, number]>) => points.reduce((max, [, y]) => (Number.isFinite(y) && !(y <= max) ? y : max), NaN);
