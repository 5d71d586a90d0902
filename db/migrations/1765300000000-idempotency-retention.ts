import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Idempotency records are kept for a retention (IDEMPOTENCY_RETENTION_SECONDS, 24 h by default) and
 * then pruned by the worker in small batches. A record's expiry is its `created_at` + the retention,
 * so the index on `created_at` lets each batch find only expired rows: pruning costs O(expired),
 * not a scan of every key ever used. Concerts get the index their keyset-paged list (GET /concerts)
 * walks.
 */
export class IdempotencyRetention1765300000000 implements MigrationInterface {
  name = 'IdempotencyRetention1765300000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`CREATE INDEX IF NOT EXISTS idempotency_records_created_at ON idempotency_records (created_at)`);
    await db.query(`CREATE INDEX IF NOT EXISTS concerts_created_at_id ON concerts (created_at, id)`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP INDEX IF EXISTS concerts_created_at_id`);
    await db.query(`DROP INDEX IF EXISTS idempotency_records_created_at`);
  }
}
