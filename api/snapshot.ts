import { createHash } from 'node:crypto';
import { Lru } from '../lib/lru';

/** A response body as it was at one moment, with its strong entity tag. */
export interface Snapshot {
  body: string;
  etag: string;
  /** When the read that produced it started (the clock's ms): its state is at least this recent. */
  takenAt: number;
}

/**
 * Response bodies read from PostgreSQL at most `maxAgeMs` ago, rebuilt on demand. Many readers of
 * one key inside the bound share one body (a rush reads one seat map thousands of times a second);
 * a reader after the bound waits for a fresh read, which concurrent readers share (single flight),
 * so PostgreSQL sees at most one read per key per bound per process, however hot the key.
 *
 * Per process, not shared in Redis: a shared copy would cost every request a Redis round trip
 * carrying the whole body (67 KiB for 1,000 seats), while a per-process copy costs PostgreSQL one
 * ~1 ms read per key every 250 ms per API process, and a request nothing but a map lookup.
 *
 * The age is counted from the start of the read, so a body served is never older than `maxAgeMs`
 * whatever the read took. The database stays the truth: a hold is decided there, not here.
 */
export class Snapshots<K> {
  private readonly taken: Lru<K, Snapshot>;
  private readonly reading = new Map<K, { startedAt: number; snapshot: Promise<Snapshot> }>();

  constructor(
    private readonly read: (key: K) => Promise<string>,
    private readonly opts: { maxAgeMs: number; maxKeys: number; now?: () => number },
  ) {
    this.taken = new Lru(opts.maxKeys);
  }

  get(key: K): Promise<Snapshot> {
    const now = this.now();
    const snapshot = this.taken.get(key);
    if (snapshot && now - snapshot.takenAt <= this.opts.maxAgeMs) return Promise.resolve(snapshot);
    // A read already under way is shared while its start is inside the bound (a slow read is not).
    const inFlight = this.reading.get(key);
    if (inFlight && now - inFlight.startedAt <= this.opts.maxAgeMs) return inFlight.snapshot;
    const read = { startedAt: now, snapshot: this.take(key, now) };
    this.reading.set(key, read);
    const forget = () => {
      if (this.reading.get(key) === read) this.reading.delete(key);
    };
    read.snapshot.then(forget, forget);
    return read.snapshot;
  }

  private async take(key: K, takenAt: number): Promise<Snapshot> {
    const body = await this.read(key);
    const snapshot = { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`, takenAt };
    // A later read may have finished first: keep the most recent state.
    const kept = this.taken.get(key);
    if (!kept || kept.takenAt <= takenAt) this.taken.set(key, snapshot);
    return snapshot;
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }
}

/** True when `If-None-Match` names the entity tag (weak comparison, RFC 9110 §13.1.2), or is `*`. */
export function matchesIfNoneMatch(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}
