import type { Api } from './api';
import type { Fixtures } from './fixtures';
import type { Stack } from './stack';
import type { Measurement } from './stats';

export interface BenchContext {
  stack: Stack;
  api: Api;
  fixtures: Fixtures;
  /** Seconds of each measured window (10 unless `--duration`). */
  durationS: number;
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
  /** Needs the raw Temporal worker of bench/raw (started on demand, stopped after the last user). */
  usesRawWorker?: boolean;
  /** The first row is the scenario's own (the one ratios use); more rows are details. */
  run(ctx: BenchContext): Promise<Measurement[]>;
}
