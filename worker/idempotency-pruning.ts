import type { DataSource } from 'typeorm';
import { IdempotencyStore } from '../db/stores/idempotency';
import type { Logger } from '../lib/logger';

/** Records deleted per statement: short transactions, never a long lock. */
export const PRUNE_BATCH = 500;
/** How often the worker looks for expired records (a few batches a minute at most: a low rate). */
export const PRUNE_EVERY_MS = 60_000;

/**
 * One pruning round: expired idempotency records deleted in batches until none is left (or
 * `maxBatches` ran; the next round goes on). Answers how many were deleted. Safe to run in every
 * worker at once (see `IdempotencyStore.pruneExpired`).
 */
export async function pruneIdempotencyRecords(
  db: DataSource,
  retentionSeconds: number,
  options: { now?: Date; batch?: number; maxBatches?: number } = {},
): Promise<number> {
  const store = new IdempotencyStore(db);
  const batch = options.batch ?? PRUNE_BATCH;
  let total = 0;
  for (let i = 0; i < (options.maxBatches ?? 20); i++) {
    const deleted = await store.pruneExpired(retentionSeconds, batch, options.now);
    total += deleted;
    if (deleted < batch) break;
  }
  return total;
}

/**
 * The worker's pruning timer: a round now and then every `PRUNE_EVERY_MS`, one at a time; a failed
 * round (PostgreSQL away) is logged and the next one tries again. Returns the stop function.
 */
export function startIdempotencyPruning(db: DataSource, retentionSeconds: number, logger: Logger, everyMs = PRUNE_EVERY_MS): () => void {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const round = async () => {
    try {
      const deleted = await pruneIdempotencyRecords(db, retentionSeconds);
      if (deleted > 0) logger.info({ deleted }, 'expired idempotency records pruned');
    } catch (err) {
      logger.warn({ err }, 'pruning idempotency records failed; the next round retries');
    }
    if (!stopped) timer = setTimeout(() => void round(), everyMs).unref();
  };
  void round();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}
