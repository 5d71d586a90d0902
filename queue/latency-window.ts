import type { RedisClient as Redis } from '../lib/redis';

/** The calls whose latency steers the adaptive admission valve. */
export type ServedCall = 'hold' | 'pay';

/**
 * Upper bounds (ms) of the latency histogram's buckets: fine around the 500 ms hold target, where the
 * valve decides, coarse far from it. A p95 is reported as the upper bound of its bucket; the last
 * bucket also holds everything slower (a call that slow is "too slow" whatever its exact figure).
 */
export const LATENCY_BOUNDS_MS = [10, 25, 50, 75, 100, 150, 200, 300, 400, 500, 650, 800, 1000, 1500, 2000, 3000, 5000, 10_000, 30_000];

/** Per-second histograms are kept this long: a window never reads further back. */
const KEEP_SECONDS = 120;

export interface LatencyPercentile {
  /** The p95 bucket's upper bound in ms; undefined when nothing was served in the window. */
  p95Ms: number | undefined;
  samples: number;
}

/**
 * How long holds and payments take, as the API instances see them, shared through Redis so that
 * the admission controller (on any worker) reads one picture of the whole deployment. One histogram
 * per call and second (a hash of bucket → count). Recordings are batched: each instance adds what it
 * counted over `flushAfterMs` in one pipeline per call (an HINCRBY per bucket that moved and an EXPIRE
 * per histogram) instead of a round trip per hold or payment, a socket write the API paid on every
 * one (bench/README.md). Instances only ever add to the shared counts, so nothing one holds back
 * contradicts another; the valve reads windows of seconds, so a batch that lands a tenth of a second
 * late changes nothing it decides, and one a killed process never sent is a statistic lost, not a
 * record. Reading a window is one HGETALL per second of it, pipelined: every histogram of a call
 * carries the hash tag `{latency:<call>}`, so on a Redis Cluster a call's keys share one slot (one
 * pipeline, one master; hence a pipeline per call).
 */
export class LatencyWindow {
  /** Counts not sent yet, by call, then by histogram key: one array of bucket counts each. */
  private pending = new Map<ServedCall, Map<string, number[]>>();
  private flushed: Promise<void> | undefined;

  /** @param flushAfterMs how long a recording may wait for others to share its round trip (0: those of the same turn of the event loop) */
  constructor(
    private readonly redis: Redis,
    private readonly now: () => number = Date.now,
    private readonly flushAfterMs = 0,
  ) {}

  private key(call: ServedCall, second: number): string {
    return latencyKey(call, second);
  }

  /** Counts one call; resolves once its batch is in Redis (callers on a fan's path do not wait). */
  record(call: ServedCall, ms: number): Promise<void> {
    const key = this.key(call, Math.floor(this.now() / 1000));
    const within = LATENCY_BOUNDS_MS.findIndex((bound) => ms <= bound);
    const bucket = within === -1 ? LATENCY_BOUNDS_MS.length - 1 : within;
    let histograms = this.pending.get(call);
    if (!histograms) this.pending.set(call, (histograms = new Map()));
    let counts = histograms.get(key);
    if (!counts) histograms.set(key, (counts = new Array<number>(LATENCY_BOUNDS_MS.length).fill(0)));
    counts[bucket]++;
    this.flushed ??= new Promise<void>((resolve) => setTimeout(resolve, this.flushAfterMs).unref()).then(() => this.flush());
    return this.flushed;
  }

  /**
   * Sends what was counted since the last batch. A pipeline, not MULTI: the commands need one round
   * trip, not atomicity (a histogram whose EXPIRE was lost would only outlive its window).
   */
  private async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = new Map();
    this.flushed = undefined;
    const sent = [...batch.values()].map(async (histograms) => {
      const pipeline = this.redis.pipeline();
      for (const [key, counts] of histograms) {
        counts.forEach((count, bucket) => count && pipeline.hincrby(key, String(bucket), count));
        pipeline.expire(key, KEEP_SECONDS);
      }
      for (const [err] of (await pipeline.exec()) ?? []) if (err) throw err;
    });
    await Promise.all(sent);
  }

  /** The p95 of the calls that completed in the last `seconds` seconds (the current one included). */
  async p95(call: ServedCall, seconds: number): Promise<LatencyPercentile> {
    const newest = Math.floor(this.now() / 1000);
    const pipeline = this.redis.pipeline();
    for (let s = newest - Math.min(seconds, KEEP_SECONDS) + 1; s <= newest; s++) pipeline.hgetall(this.key(call, s));
    const counts = new Array<number>(LATENCY_BOUNDS_MS.length).fill(0);
    for (const [err, histogram] of (await pipeline.exec()) ?? []) {
      if (err) throw err;
      for (const [bucket, count] of Object.entries(histogram as Record<string, string>)) counts[Number(bucket)] += Number(count);
    }
    return percentile(counts, 0.95);
  }
}

/** The upper bound of the bucket holding the q-th quantile of a bucketed histogram. */
export function percentile(counts: number[], q: number): LatencyPercentile {
  const samples = counts.reduce((a, b) => a + b, 0);
  if (samples === 0) return { p95Ms: undefined, samples };
  const rank = Math.ceil(q * samples);
  let seen = 0;
  const bucket = counts.findIndex((count) => (seen += count) >= rank);
  return { p95Ms: LATENCY_BOUNDS_MS[bucket], samples };
}

/** The histogram of one call's completions in one second (epoch seconds), in the call's own hash slot. */
export function latencyKey(call: ServedCall, second: number): string {
  return `{latency:${call}}:${second}`;
}
