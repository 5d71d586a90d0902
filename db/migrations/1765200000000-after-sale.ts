import type { MigrationInterface, QueryRunner } from 'typeorm';
import { DEFAULT_REFUND_POLICY } from '../../lib/refund-policy';

/**
 * After the sale: refunds of paid tickets.
 * - `concerts.refund_policy`: the operator's policy (lib/refund-policy.ts), the documented default
 *   unless set.
 * - `payments.refund_policy`: the concert's policy copied onto the payment when it is recorded, by a
 *   trigger, so the fan is held to the terms of the day they paid, whoever writes the payment row.
 * - A payment may end REFUNDED or PARTIALLY_REFUNDED (a fee kept): `refunded_amount` never exceeds
 *   what was paid; the one REFUND ledger entry is keyed `ticket:<reservationId>:refund`.
 * - `concert_schedules.cancelled_at`: the show was called off by an operator.
 */
export class AfterSale1765200000000 implements MigrationInterface {
  name = 'AfterSale1765200000000';

  async up(db: QueryRunner): Promise<void> {
    // A literal default (not a parameter): DDL takes no bind parameters; the value is our own constant.
    const policy = JSON.stringify(DEFAULT_REFUND_POLICY).replace(/'/g, "''");
    await db.query(`ALTER TABLE concerts ADD COLUMN refund_policy jsonb NOT NULL DEFAULT '${policy}'::jsonb`);
    await db.query(`ALTER TABLE concert_schedules ADD COLUMN cancelled_at timestamptz`);

    await db.query(`ALTER TABLE payments DROP CONSTRAINT IF EXISTS payments_status_check`);
    await db.query(`
      ALTER TABLE payments
        ADD CONSTRAINT payments_status_check CHECK (status IN ('PENDING', 'COMPLETED', 'FAILED', 'REFUNDED', 'PARTIALLY_REFUNDED')),
        ALTER COLUMN status TYPE varchar(20),
        ADD COLUMN refund_policy jsonb,
        ADD COLUMN refunded_amount bigint,
        ADD COLUMN refund_fee bigint,
        ADD COLUMN refund_reason varchar(20) CHECK (refund_reason IN ('FAN_CANCELLED', 'SHOW_CANCELLED')),
        ADD COLUMN refunded_at timestamptz,
        ADD CONSTRAINT payments_refund_within_amount CHECK (
          refunded_amount IS NULL OR (refunded_amount >= 0 AND refund_fee >= 0 AND refunded_amount + refund_fee = amount)),
        ADD CONSTRAINT payments_refunded_has_refund CHECK (
          (status IN ('REFUNDED', 'PARTIALLY_REFUNDED')) = (refunded_amount IS NOT NULL AND refund_reason IS NOT NULL AND refunded_at IS NOT NULL))`);

    await db.query(`
      CREATE FUNCTION payments_snapshot_refund_policy() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.refund_policy IS NULL THEN
          SELECT c.refund_policy INTO NEW.refund_policy
          FROM reservations r JOIN concerts c ON c.id = r.concert_id WHERE r.id = NEW.reservation_id;
        END IF;
        RETURN NEW;
      END $$`);
    await db.query(`
      CREATE TRIGGER payments_snapshot_refund_policy BEFORE INSERT ON payments
      FOR EACH ROW EXECUTE FUNCTION payments_snapshot_refund_policy()`);

    // The show-cancellation sweep walks a schedule's paid tickets in id order, batch after batch.
    await db.query(`CREATE INDEX reservations_confirmed_by_schedule ON reservations (schedule_id, id) WHERE status = 'CONFIRMED'`);
    await db.query(`CREATE INDEX payments_by_reservation ON payments (reservation_id)`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP INDEX IF EXISTS payments_by_reservation`);
    await db.query(`DROP INDEX IF EXISTS reservations_confirmed_by_schedule`);
    await db.query(`DROP TRIGGER IF EXISTS payments_snapshot_refund_policy ON payments`);
    await db.query(`DROP FUNCTION IF EXISTS payments_snapshot_refund_policy()`);
    await db.query(`
      ALTER TABLE payments
        DROP CONSTRAINT IF EXISTS payments_refunded_has_refund,
        DROP CONSTRAINT IF EXISTS payments_refund_within_amount,
        DROP COLUMN IF EXISTS refunded_at,
        DROP COLUMN IF EXISTS refund_reason,
        DROP COLUMN IF EXISTS refund_fee,
        DROP COLUMN IF EXISTS refunded_amount,
        DROP COLUMN IF EXISTS refund_policy,
        DROP CONSTRAINT IF EXISTS payments_status_check`);
    await db.query(`ALTER TABLE payments ADD CONSTRAINT payments_status_check CHECK (status IN ('PENDING', 'COMPLETED', 'FAILED'))`);
    await db.query(`ALTER TABLE concert_schedules DROP COLUMN IF EXISTS cancelled_at`);
    await db.query(`ALTER TABLE concerts DROP COLUMN IF EXISTS refund_policy`);
  }
}
