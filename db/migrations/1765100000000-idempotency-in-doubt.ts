import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * An idempotency record whose request ended without knowing its outcome (a Temporal deadline, a
 * connection lost after a write was sent) is kept "in doubt" instead of deleted: its effect may have
 * committed, so the key is never freed, and the next retry with the key runs again with the same
 * derived ids and converges on what really happened.
 */
export class IdempotencyInDoubt1765100000000 implements MigrationInterface {
  name = 'IdempotencyInDoubt1765100000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE idempotency_records ADD COLUMN in_doubt boolean NOT NULL DEFAULT false`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE idempotency_records DROP COLUMN IF EXISTS in_doubt`);
  }
}
