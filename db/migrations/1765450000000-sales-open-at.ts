import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A fair start (issue 21): a concert's `sales_open_at` (fans who join before it are pre-queued and
 * ordered by a random permutation) and its `queue_seed`, the secret of that permutation, published
 * after the opening. Existing concerts opened when they were created and never had a pre-queue: their
 * seed stays NULL.
 */
export class SalesOpenAt1765450000000 implements MigrationInterface {
  name = 'SalesOpenAt1765450000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE concerts ADD COLUMN IF NOT EXISTS sales_open_at timestamptz`);
    await db.query(`UPDATE concerts SET sales_open_at = created_at WHERE sales_open_at IS NULL`);
    await db.query(`ALTER TABLE concerts ALTER COLUMN sales_open_at SET DEFAULT now(), ALTER COLUMN sales_open_at SET NOT NULL`);
    await db.query(`ALTER TABLE concerts ADD COLUMN IF NOT EXISTS queue_seed text`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE concerts DROP COLUMN IF EXISTS queue_seed`);
    await db.query(`ALTER TABLE concerts DROP COLUMN IF EXISTS sales_open_at`);
  }
}
