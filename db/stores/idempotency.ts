import type { DataSource } from 'typeorm';
import { rows } from '../sql';

export type IdempotencyClaim =
  | { kind: 'owner' }
  | { kind: 'replay'; status: number; body: unknown }
  | { kind: 'mismatch' };

/** How long an unfinished first request may stay silent before a retry takes over (its process died). */
const ABANDONED_AFTER_SECONDS = 30;
const WAIT_STEP_MS = 25;

/**
 * HTTP `Idempotency-Key` records. The first request inserts the record and owns the key; a
 * concurrent duplicate waits for the owner's answer and replays it, so twenty parallel requests with
 * one key have one effect and twenty identical answers.
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
      const found: Array<{ request_hash: string; status_code: number | null; response_body: unknown; abandoned: boolean }> = await this.db.query(
        `SELECT request_hash, status_code, response_body, created_at < now() - make_interval(secs => $4) AS abandoned
         FROM idempotency_records WHERE user_id = $1 AND endpoint = $2 AND key = $3`,
        [userId, endpoint, key, ABANDONED_AFTER_SECONDS],
      );
      if (!found.length) return this.claim(userId, endpoint, key, requestHash); // the owner gave up (5xx)
      const record = found[0];
      if (record.request_hash !== requestHash) return { kind: 'mismatch' };
      if (record.status_code !== null) return { kind: 'replay', status: record.status_code, body: record.response_body };
      if (record.abandoned) {
        const taken = await rows(
          this.db,
          `UPDATE idempotency_records SET created_at = now()
           WHERE user_id = $1 AND endpoint = $2 AND key = $3 AND status_code IS NULL
             AND created_at < now() - make_interval(secs => $4) RETURNING 1`,
          [userId, endpoint, key, ABANDONED_AFTER_SECONDS],
        );
        if (taken.length) return { kind: 'owner' };
      }
      await new Promise((resolve) => setTimeout(resolve, WAIT_STEP_MS));
    }
  }

  async complete(userId: string, endpoint: string, key: string, status: number, body: unknown): Promise<void> {
    await this.db.query(
      `UPDATE idempotency_records SET status_code = $4, response_body = $5 WHERE user_id = $1 AND endpoint = $2 AND key = $3`,
      [userId, endpoint, key, status, JSON.stringify(body)],
    );
  }

  /** A 5xx is not an answer worth keeping: the key is freed for a retry. */
  async abandon(userId: string, endpoint: string, key: string): Promise<void> {
    await this.db.query('DELETE FROM idempotency_records WHERE user_id = $1 AND endpoint = $2 AND key = $3 AND status_code IS NULL', [userId, endpoint, key]);
  }
}
