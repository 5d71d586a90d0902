import type { DataSource } from 'typeorm';
import { rows } from '../sql';

export type IdempotencyClaim =
  /** `resumed`: an earlier request with this key ran and its outcome is unknown (in doubt, or abandoned). */
  | { kind: 'owner'; resumed?: true }
  | { kind: 'replay'; status: number; body: unknown }
  | { kind: 'mismatch' };

/** How long an unfinished first request may stay silent before a retry takes over (its process died). */
const ABANDONED_AFTER_SECONDS = 30;
const WAIT_STEP_MS = 25;

/**
 * HTTP `Idempotency-Key` records. The first request inserts the record and owns the key; a
 * concurrent duplicate waits for the owner's answer and replays it, so twenty parallel requests with
 * one key have one effect and twenty identical answers.
 *
 * A key is never freed: a request that ended without knowing its outcome leaves its record "in
 * doubt", and the next request with the key takes it over at once and runs again. That is safe
 * because the effects are keyed by the request (derived ids, the ledger's unique key), so the re-run
 * finds what the first one did instead of doing it twice.
 *
 * Records are kept for a retention (24 h by default) and then pruned (`pruneExpired`): a key reused
 * after that is a new request.
 */
export class IdempotencyStore {
  constructor(private readonly db: DataSource) {}

  async claim(userId: string, endpoint: string, key: string, requestHash: string): Promise<IdempotencyClaim> {
    const inserted = await this.db.query(
      `INSERT INTO idempotency_records (user_id, endpoint, key, request_hash) VALUES ($1, $2, $3, $4)
       ON CONFLICT DO NOTHING RETURNING 1`,
      [userId, endpoint, key, requestHash],
    );
    if (inserted.length) return { kind: 'owner' };
    for (;;) {
      const found: Array<{ request_hash: string; status_code: number | null; response_body: unknown; in_doubt: boolean; abandoned: boolean }> = await this.db.query(
        `SELECT request_hash, status_code, response_body, in_doubt, created_at < now() - make_interval(secs => $4) AS abandoned
         FROM idempotency_records WHERE user_id = $1 AND endpoint = $2 AND key = $3`,
        [userId, endpoint, key, ABANDONED_AFTER_SECONDS],
      );
      if (!found.length) return this.claim(userId, endpoint, key, requestHash); // pruned meanwhile
      const record = found[0];
      if (record.request_hash !== requestHash) return { kind: 'mismatch' };
      if (record.status_code !== null) return { kind: 'replay', status: record.status_code, body: record.response_body };
      if (record.in_doubt || record.abandoned) {
        // One waiter takes the key over (the row is the lock); the others keep waiting for its answer.
        const taken = await rows(
          this.db,
          `UPDATE idempotency_records SET created_at = now(), in_doubt = false
           WHERE user_id = $1 AND endpoint = $2 AND key = $3 AND status_code IS NULL
             AND (in_doubt OR created_at < now() - make_interval(secs => $4)) RETURNING 1`,
          [userId, endpoint, key, ABANDONED_AFTER_SECONDS],
        );
        if (taken.length) return { kind: 'owner', resumed: true };
      }
      await new Promise((resolve) => setTimeout(resolve, WAIT_STEP_MS));
    }
  }

  async complete(userId: string, endpoint: string, key: string, status: number, body: unknown): Promise<void> {
    await this.db.query(
      `UPDATE idempotency_records SET status_code = $4, response_body = $5, in_doubt = false WHERE user_id = $1 AND endpoint = $2 AND key = $3`,
      [userId, endpoint, key, status, JSON.stringify(body)],
    );
  }

  /**
   * Deletes at most `limit` records older than the retention, oldest first, and answers how many.
   * Through the index on `created_at` it reads only expired rows; rows another pruner is deleting
   * are skipped, not waited for, so concurrent workers share the work. Idempotent.
   */
  async pruneExpired(retentionSeconds: number, limit: number, now: Date = new Date()): Promise<number> {
    const deleted = await rows(
      this.db,
      `DELETE FROM idempotency_records WHERE ctid IN (
         SELECT ctid FROM idempotency_records WHERE created_at < $1::timestamptz - make_interval(secs => $2)
         ORDER BY created_at LIMIT $3 FOR UPDATE SKIP LOCKED)
       RETURNING 1`,
      [now.toISOString(), retentionSeconds, limit],
    );
    return deleted.length;
  }

  /**
   * The request could not learn its outcome (a 5xx): the effect may have committed, so the key stays
   * taken, and the next request with it runs again at once with the same derived ids.
   */
  async markInDoubt(userId: string, endpoint: string, key: string): Promise<void> {
    await this.db.query('UPDATE idempotency_records SET in_doubt = true WHERE user_id = $1 AND endpoint = $2 AND key = $3 AND status_code IS NULL', [
      userId,
      endpoint,
      key,
    ]);
  }
}
