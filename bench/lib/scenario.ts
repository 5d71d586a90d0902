import type { Api } from './api';
import type { Fixtures } from './fixtures';
import type { Sizes } from './sizes';
import type { Stack } from './stack';
import type { Measurement } from './stats';

export interface BenchContext {
  stack: Stack;
  api: Api;
  fixtures: Fixtures;
  /** Seconds of each measured window (10 unless `--duration`). */
  durationS: number;
  sizes: Sizes;
  /** What the scenarios before this one measured in this run (by scenario name). */
  results: ReadonlyMap<string, Measurement[]>;
}

/** One of issue 19's targets for a scenario's row; the report says whether this run met it. */
export interface Target {
  /** The row it applies to (default: the scenario's first). */
  row?: string;
  /** The target in words, e.g. "≥ 10,000/s, p99 ≤ 25 ms". */
  label: string;
  minRate?: number;
  /** rate ≥ share × the rate of a ceiling measured in the same run. */
  minShareOf?: { ceiling: string; share: number };
  maxP95?: number;
  maxP99?: number;
  /** CPU µs all API processes spent per successful request of the row (window CPU ÷ rate). */
  maxApiCpuMicros?: number;
  /** Answers that were not the expected outcome (e.g. more than one winner, a loser not a clean 409). */
  maxErrors?: number;
  /** No answer with a 5xx status. */
  noServerErrors?: boolean;
  /** The whole measured window (a burst: from its start to its last answer), in ms. */
  maxDurationMs?: number;
}

export interface Scenario {
  name: string;
  kind: 'ceiling' | 'product';
  /** One line: what one request or operation is. */
  what: string;
  /** Product scenarios: the ceilings (scenario names) their rate is compared to. */
  ceilings?: string[];
  /** Ceilings: the figure TOOLCHAIN.md measured once on this machine kind, to spot a busy box. */
  reference?: { rate: number; label: string };
  targets?: Target[];
  /** Needs the raw Temporal worker of bench/raw (started on demand, stopped after the last user). */
  usesRawWorker?: boolean;
  /** The first row is the scenario's own (the one ratios use); more rows are details. */
  run(ctx: BenchContext): Promise<Measurement[]>;
}
