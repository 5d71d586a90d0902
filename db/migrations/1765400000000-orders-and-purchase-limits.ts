import type { MigrationInterface, QueryRunner } from 'typeorm';
import { PURCHASE_LIMIT_SQLSTATE } from '../pg-errors';

/**
 * Issue 21, orders of several seats and a purchase limit per fan per concert.
 *
 * Orders: one saga debits an order's total once. Each seat keeps a payment row of its own (so a fan
 * can later give one ticket back: the after-sale flow refunds per payment), and `payments.order_id`
 * names the order they were bought in: the order's id is the request's payment id, the ledger keys
 * `payment:<orderId>:debit|refund` and the ledger entry's `payment_id` are the order's, and the
 * entry's `reservation_ids` names the seats it paid for. A row written before this migration has no
 * `order_id`: it is an order of one seat whose id is the payment's (`COALESCE(order_id, id)`).
 *
 * Purchase limit: `fan_concert_seats` counts, per (user, concert), the reservations that are live
 * (HELD or CONFIRMED: held or sold). A trigger on reservations keeps it, so every path that holds,
 * sells, releases, expires, takes over or cancels a reservation counts without knowing of it. Why
 * it cannot be raced: a hold's INSERT makes the trigger `INSERT … ON CONFLICT DO UPDATE` the fan's
 * counter row, which takes that row's lock until the transaction ends; a second hold of the same
 * fan in the same concert (another tab, another journey, a re-queue) waits on that lock and then
 * increments the committed count, so the check `seats > max_seats_per_fan` always sees every
 * committed or own hold. Only increments are checked: a release never fails, even after an operator
 * lowered the limit below what a fan already has.
 */
export class OrdersAndPurchaseLimits1765400000000 implements MigrationInterface {
  name = 'OrdersAndPurchaseLimits1765400000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE payments ADD COLUMN order_id uuid`);
    await db.query(`CREATE INDEX payments_by_order ON payments (order_id) WHERE order_id IS NOT NULL`);
    await db.query(`ALTER TABLE wallet_transactions ADD COLUMN reservation_ids uuid[]`);

    // The default matches MAX_SEATS_PER_FAN's (lib/config.ts); the admin API sets it per concert.
    await db.query(`ALTER TABLE concerts ADD COLUMN max_seats_per_fan int NOT NULL DEFAULT 8 CONSTRAINT concerts_max_seats_per_fan_positive CHECK (max_seats_per_fan >= 1)`);
    await db.query(`
      CREATE TABLE fan_concert_seats (
        user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        concert_id uuid NOT NULL REFERENCES concerts(id) ON DELETE CASCADE,
        seats int NOT NULL CONSTRAINT fan_concert_seats_not_negative CHECK (seats >= 0),
        PRIMARY KEY (user_id, concert_id)
      )`);
    await db.query(`
      INSERT INTO fan_concert_seats (user_id, concert_id, seats)
      SELECT user_id, concert_id, count(*) FROM reservations WHERE status IN ('HELD', 'CONFIRMED') GROUP BY user_id, concert_id`);
    await db.query(`
      CREATE FUNCTION reservations_count_fan_seats() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        was_live boolean := TG_OP = 'UPDATE' AND OLD.status IN ('HELD', 'CONFIRMED');
        is_live boolean := NEW.status IN ('HELD', 'CONFIRMED');
        counted int;
        cap int;
      BEGIN
        IF is_live = was_live THEN
          RETURN NEW;
        END IF;
        IF is_live THEN
          INSERT INTO fan_concert_seats AS f (user_id, concert_id, seats) VALUES (NEW.user_id, NEW.concert_id, 1)
          ON CONFLICT (user_id, concert_id) DO UPDATE SET seats = f.seats + 1
          RETURNING f.seats INTO counted;
          SELECT max_seats_per_fan INTO cap FROM concerts WHERE id = NEW.concert_id;
          IF counted > cap THEN
            RAISE EXCEPTION 'purchase limit of % seats per fan in this concert reached', cap
              USING ERRCODE = '${PURCHASE_LIMIT_SQLSTATE}';
          END IF;
        ELSE
          UPDATE fan_concert_seats SET seats = seats - 1 WHERE user_id = NEW.user_id AND concert_id = NEW.concert_id;
        END IF;
        RETURN NEW;
      END $$`);
    await db.query(`
      CREATE TRIGGER reservations_count_fan_seats AFTER INSERT OR UPDATE OF status ON reservations
      FOR EACH ROW EXECUTE FUNCTION reservations_count_fan_seats()`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TRIGGER IF EXISTS reservations_count_fan_seats ON reservations`);
    await db.query(`DROP FUNCTION IF EXISTS reservations_count_fan_seats()`);
    await db.query(`DROP TABLE IF EXISTS fan_concert_seats`);
    await db.query(`ALTER TABLE concerts DROP COLUMN IF EXISTS max_seats_per_fan`);
    await db.query(`ALTER TABLE wallet_transactions DROP COLUMN IF EXISTS reservation_ids`);
    await db.query(`DROP INDEX IF EXISTS payments_by_order`);
    await db.query(`ALTER TABLE payments DROP COLUMN IF EXISTS order_id`);
  }
}
