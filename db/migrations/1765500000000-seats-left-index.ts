import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The admission controller counts a concert's seats left to buy (bookable plus held) on every tick
 * (activities/admission.ts). This partial index holds only the unsold seats, so the count reads
 * seats left, never the sold ones, and shrinks as the show sells: at sell-out it is empty and the
 * tick's count costs next to nothing.
 */
export class SeatsLeftIndex1765500000000 implements MigrationInterface {
  name = 'SeatsLeftIndex1765500000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`CREATE INDEX IF NOT EXISTS seats_unsold_by_schedule ON seats (schedule_id, status, held_until) WHERE status <> 'SOLD'`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP INDEX IF EXISTS seats_unsold_by_schedule`);
  }
}
