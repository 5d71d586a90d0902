/** What every scenario reports, and how latencies become percentiles. */
import type { CpuUsage, Window } from './cpu';
import type { Plot } from './plots';

export interface Measurement {
  /** Row label in the report (a scenario may report more than one row). */
  name: string;
  /** Connections or clients of a closed loop; 'open' for an open arrival model. */
  concurrency: number | string;
  requests: number;
  durationS: number;
  rate: number;
  p50: number;
  p95: number;
  p99: number;
  errors: number;
  /** Answers by HTTP status (or outcome name for non-HTTP loads). */
  statuses: Record<string, number>;
  notes: string[];
  cpu?: CpuUsage;
  /** When it was measured, for profiles of that window only (bench/profile-top.ts). */
  window?: Window;
  /** Set when the scenario ran but something it checks did not hold (an invariant): the run fails, the figures stay. */
  failure?: string;
  /** Figures over time, drawn as SVG next to the report. */
  plots?: Plot[];
  /** Data over time another scenario draws beside its own (e.g. the raw timers' drain in mass-expiry's plot). */
  series?: Record<string, Array<[number, number]>>;
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/** Collects one load's latencies (ms) and outcomes. */
export class Recorder {
  private latencies = new Float64Array(1 << 16);
  private count = 0;
  readonly statuses: Record<string, number> = {};
  errors = 0;

  /** `ok` answers feed the latency percentiles; the others count as errors. */
  record(ms: number, outcome: string | number, ok: boolean): void {
    this.statuses[outcome] = (this.statuses[outcome] ?? 0) + 1;
    if (!ok) {
      this.errors++;
      return;
    }
    if (this.count === this.latencies.length) {
      const bigger = new Float64Array(this.latencies.length * 2);
      bigger.set(this.latencies);
      this.latencies = bigger;
    }
    this.latencies[this.count++] = ms;
  }

  /** Counts an outcome that feeds neither the percentiles nor the errors (e.g. the contested seat's winner). */
  tally(outcome: string | number): void {
    this.statuses[outcome] = (this.statuses[outcome] ?? 0) + 1;
    this.tallied++;
  }
  private tallied = 0;

  get total(): number {
    return this.count + this.errors;
  }

  summary(name: string, concurrency: number | string, durationS: number, notes: string[] = []): Measurement {
    const sorted = this.latencies.slice(0, this.count).sort();
    return {
      name,
      concurrency,
      requests: this.total + this.tallied,
      durationS,
      rate: this.count / durationS,
      p50: percentile(sorted, 50),
      p95: percentile(sorted, 95),
      p99: percentile(sorted, 99),
      errors: this.errors,
      statuses: this.statuses,
      notes,
    };
  }
}

export const round = (n: number, digits = 0) => (Number.isFinite(n) ? Number(n.toFixed(digits)) : NaN);

/** 1234.5 → "1,235"; latencies keep a decimal under 10 ms. */
export function fmtRate(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '—';
}
export function fmtMs(n: number): string {
  if (!Number.isFinite(n)) return '—';
  return n < 10 ? n.toFixed(1) : Math.round(n).toLocaleString('en-US');
}

/**
 * The largest of `values` and `floor`, by a loop: `Math.max(...values)` passes every value as an
 * argument and overflows the stack beyond ~100,000 of them (a full-size rush has 300,000 joins).
 */
export function maxOf(values: Iterable<number>, floor = -Infinity): number {
  let max = floor;
  for (const v of values) if (v > max) max = v;
  return max;
}

/** The smallest of `values` and `ceiling`, by a loop (see `maxOf`). */
export function minOf(values: Iterable<number>, ceiling = Infinity): number {
  let min = ceiling;
  for (const v of values) if (v < min) min = v;
  return min;
}
